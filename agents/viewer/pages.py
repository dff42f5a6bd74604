"""One function per page kind. Each takes a read-only `Store` (and the output folder where files live beside it) and
returns a whole HTML page; an unknown id raises `PageNotFound` with the line the error page shows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from agents.metrics import paired_comparison, wilson_interval
from agents.store import Store, StoreError
from agents.viewer import queries
from agents.viewer.layout import (
    Html,
    compare_name,
    esc,
    kv_table,
    number,
    page,
    rate,
    run_link,
    summary_row,
    table,
    traj_link,
    tree_link,
    value_html,
    when,
)
from agents.viewer.svg import Axes, Point, Series, line_plot
from training.ttsi import REPORT_GLOB

LEARNING_FILE = "learning.json"
"""Where `benchmarks/learning.py` writes its study, beside the store."""
TTSI_GLOB = REPORT_GLOB
"""TT-SI reports beside the store (`kintsugi tt-si --out OUT` writes them)."""


class PageNotFound(LookupError):
    """No such run, trajectory, tree or page; the message is what the error page says."""


def _learning(out: Path) -> Path | None:
    path = out / LEARNING_FILE
    return path if path.is_file() else None


def _page(out: Path, title: str, body: str, *, live: bool = False) -> str:
    return page(title, body, live=live, has_learning=_learning(out) is not None, has_ttsi=bool(_ttsi_reports(out)))


def _ttsi_reports(out: Path) -> list[Path]:
    return sorted(out.glob(TTSI_GLOB))


def _get_run(store: Store, run_id: str) -> dict[str, Any]:
    try:
        return store.get_run(run_id)
    except StoreError:
        raise PageNotFound(f"no run {run_id!r} in {store.path}") from None


# runs ---------------------------------------------------------------------------------------------------------
def index_page(store: Store, out: Path) -> str:
    """All runs, newest first, with their success counts, and a form to compare two of them."""
    runs = queries.run_summaries(store)
    rows, attrs = [], []
    for r in runs:
        status = esc(r["status"])
        rows.append(
            [
                run_link(r["id"]),
                esc(r["kind"]),
                f'<span class="{"ok" if r["status"] == "done" else "bad" if r["status"] == "failed" else ""}">'
                f"{status}</span>",
                esc(r["model"]),
                esc(r["adapter"] or ""),
                esc(when(r["created"])),
                rate(r["successes"], r["trajectories"], wilson_interval(r["successes"], r["trajectories"]))
                if r["trajectories"]
                else '<span class="muted">-</span>',
            ]
        )
        attrs.append(f'data-run="{esc(r["id"])}" data-kind="{esc(r["kind"])}"')
    options = "".join(f'<option value="{esc(r["id"])}">{esc(r["id"])} ({esc(r["kind"])})</option>' for r in runs)
    form = (
        "<form id=\"compare\" onsubmit=\"location.href='compare-'+this.a.value+'-vs-'+this.b.value+'.html';"
        'return false">compare <select name="a">' + options + '</select> with <select name="b">' + options + "</select>"
        ' <button type="submit">compare</button></form>'
    )
    body = (
        f"<p>{len(runs)} runs in <code>{esc(store.path)}</code>. Success counts are over finished and running "
        "trajectories; intervals are 95% Wilson.</p>"
        + (form if len(runs) > 1 else "")
        + table(
            ["run", "kind", "status", "model", "adapter", "created", "success"], rows, css_id="runs", row_attrs=attrs
        )
    )
    live = any(r["status"] == "running" for r in runs)
    return _page(out, "Runs", body, live=live)


def run_page(store: Store, out: Path, run_id: str) -> str:
    """A run: its record, related runs, stages, and every task's trajectories (filterable by success and source)."""
    run = _get_run(store, run_id)
    rows = queries.trajectory_rows(store, run_id)
    head = {
        "id": run["id"],
        "kind": run["kind"],
        "status": run["status"],
        "model": run["model"],
        "adapter": run["adapter"],
        "created": when(run["created"]),
        "finished": when(run["finished"]),
    }
    if run["finished"]:
        head["seconds"] = round(run["finished"] - run["created"], 1)
    body = [summary_row(head, css_id="run-head")]
    ok = sum(bool(r.success) for r in rows)
    if rows:
        done = [r for r in rows if r.status != "running"]
        lo, hi = wilson_interval(sum(bool(r.success) for r in done), len(done)) if done else (0.0, 0.0)
        body.append(
            f'<p id="run-success">trajectories: {len(rows)}, successful: {ok} — finished: '
            f"{rate(sum(bool(r.success) for r in done), len(done), (lo, hi))}</p>"
        )
    if run["metrics"]:
        curves = {k: v for k, v in run["metrics"].items() if _curve(v)}
        rest = {k: v for k, v in run["metrics"].items() if k not in curves}
        body += ["<h2>Metrics</h2>", kv_table(_flat_metrics(rest), css_id="metrics")]
        for key, curve in curves.items():
            points = [Point(float(x), float(y)) for x, y in curve.items()]
            body.append(line_plot([Series(key, points)], Axes(title=key, x_label=key.rpartition("_by_")[2] or key,
                                                              width=480, height=220)))  # fmt: skip
    body += ["<h2>Config</h2>", kv_table(run["config"], css_id="config")]
    named, naming = queries.related_runs(store, run)
    if named or naming:
        body.append("<h2>Related runs</h2>")
        if named:
            body.append("<p>named in this run's record: " + ", ".join(run_link(r) for r in named) + "</p>")
        if naming:
            body.append("<p>runs that name this one: " + ", ".join(run_link(r) for r in naming) + "</p>")
    peers = [r for r in named if queries.task_outcomes(store, r)] if rows else []
    if rows and peers:
        body.append(
            "<p>compare with: "
            + ", ".join(f'<a href="{esc(compare_name(run_id, p))}">{esc(p)}</a>' for p in peers)
            + "</p>"
        )
    stage_rows = queries.stages(store, run_id)
    if stage_rows:
        body.append("<h2>Stages</h2>")
        body.append(
            table(
                ["iteration", "stage", "status", "seconds"],
                [[esc(s["iteration"]), esc(s["stage"]), esc(s["status"]), number(s["seconds"])] for s in stage_rows],
                css_id="stages",
            )
        )
    trees = queries.trees(store, run_id)
    if trees:
        body.append("<h2>Search trees</h2><p>" + " ".join(tree_link(t["id"], t["task_id"]) for t in trees) + "</p>")
    if rows:
        body.append("<h2>Trajectories by task</h2>" + _filters(rows) + _task_table(rows) + _filter_script())
    live = run["status"] == "running"
    return _page(out, f"Run {run_id}", "".join(body), live=live)


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Top-level metrics, with one level of nested dicts flattened to `outer.inner` so their rates show inline."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict) and len(value) <= 12 and all(not isinstance(v, dict | list) or
                                                                 _is_interval(v) for v in value.values()):  # fmt: skip
            for inner, v in value.items():
                out[f"{key}.{inner}"] = v
        else:
            out[key] = value
    return out


def _curve(value: Any) -> bool:
    """A metric that is a curve: a dict of three or more numbers keyed by numbers (success by step, say)."""
    if not isinstance(value, dict) or len(value) < 3:
        return False
    try:
        [float(k) for k in value]
    except ValueError:
        return False
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())


def _is_interval(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value)


def _filters(rows: list[queries.TrajectoryRow]) -> str:
    sources = sorted({r.source for r in rows})
    boxes = ['<label><input type="checkbox" name="success" value="1" checked> successful</label>',
             '<label><input type="checkbox" name="success" value="0" checked> failed</label>']  # fmt: skip
    boxes += [
        f'<label><input type="checkbox" name="source" value="{esc(s)}" checked> {esc(s)}</label>' for s in sources
    ]
    return (
        f'<div class="filters" id="filters">show: {" ".join(boxes)} — <span id="shown">{len(rows)}</span> shown</div>'
    )


def _filter_script() -> str:
    """Hides trajectory links (and tasks left with none) that the checked boxes exclude; runs after the table."""
    return (
        "<script>function kFilter(){const f=document.getElementById('filters');"
        "const want=n=>[...f.querySelectorAll('input[name='+n+']:checked')].map(e=>e.value);"
        "const ok=want('success'),src=want('source');let shown=0;"
        "document.querySelectorAll('#tasks a.traj').forEach(a=>{const v=ok.includes(a.dataset.success)&&"
        "src.includes(a.dataset.source);a.style.display=v?'':'none';shown+=v;});"
        "document.querySelectorAll('#tasks tr[data-task]').forEach(tr=>{tr.style.display="
        "[...tr.querySelectorAll('a.traj')].some(a=>a.style.display!=='none')?'':'none';});"
        "document.getElementById('shown').textContent=shown;}"
        "document.getElementById('filters').addEventListener('change',kFilter);kFilter();</script>"
    )


def _task_table(rows: list[queries.TrajectoryRow]) -> str:
    by_task: dict[str, list[queries.TrajectoryRow]] = {}
    for r in rows:
        by_task.setdefault(r.task_id, []).append(r)
    body = []
    for task, trajs in by_task.items():
        links = []
        for t in trajs:
            cls = "ok" if t.success else "bad" if t.status != "running" else ""
            text = f"#{t.sample_index} {t.source} {t.steps} steps" + (" (running)" if t.status == "running" else "")
            links.append(
                f'<a class="tag traj {cls}" href="traj-{esc(t.id)}.html" data-success="{int(bool(t.success))}"'
                f' data-source="{esc(t.source)}">{esc(text)}</a>'
            )
        solved = sum(bool(t.success) for t in trajs)
        body.append(
            f'<tr data-task="{esc(task)}"><td>{esc(task)}</td><td class="num">{solved}/{len(trajs)}</td>'
            f"<td>{' '.join(links)}</td></tr>"
        )
    return f'<table id="tasks"><tr><th>task</th><th>solved</th><th>trajectories</th></tr>{"".join(body)}</table>'


def compare_page(store: Store, out: Path, a: str, b: str) -> str:
    """Two runs on their shared tasks: rates, wins and losses per task, and the paired test."""
    run_a, run_b = _get_run(store, a), _get_run(store, b)
    oa, ob = queries.task_outcomes(store, a), queries.task_outcomes(store, b)
    shared = sorted(set(oa) & set(ob))
    if not shared:
        raise PageNotFound(f"runs {a} and {b} share no finished tasks; nothing to compare")
    p = paired_comparison(oa, ob)
    first = {r.task_id: r.id for r in reversed(queries.trajectory_rows(store, a)) if r.sample_index == 0}
    second = {r.task_id: r.id for r in reversed(queries.trajectory_rows(store, b)) if r.sample_index == 0}
    groups = {"only A": [], "only B": [], "both": [], "neither": []}
    for t in shared:
        key = "both" if oa[t] and ob[t] else "only A" if oa[t] else "only B" if ob[t] else "neither"
        groups[key].append(t)
    summary = {
        "A": f"{a} ({run_a['kind']}, {run_a['adapter'] or run_a['model']})",
        "B": f"{b} ({run_b['kind']}, {run_b['adapter'] or run_b['model']})",
        "shared tasks": p["n"],
        "A solved": f"{sum(oa[t] for t in shared)}/{p['n']} = {p['baseline_rate']:.3f}",
        "B solved": f"{sum(ob[t] for t in shared)}/{p['n']} = {p['method_rate']:.3f}",
        "B - A": f"{p['difference']:+.3f} (paired bootstrap 95% CI {p['difference_ci95'][0]:+.3f} to "
        f"{p['difference_ci95'][1]:+.3f})",
        "only A / only B": f"{p['only_baseline']} / {p['only_method']}",
        "exact McNemar p": f"{p['p_value']:.3g}",
    }
    rows = []
    for key in ("only A", "only B", "both", "neither"):
        for t in groups[key]:
            rows.append([esc(t), esc(key), traj_link(first[t], "A", oa[t]), traj_link(second[t], "B", ob[t])])
    body = (
        kv_table(summary, css_id="compare-summary")
        + "<p>Each task's first sample (index 0) is the paired outcome.</p>"
        + table(["task", "outcome", "A", "B"], rows, css_id="per-task")
    )
    return _page(out, f"Compare {a} with {b}", body)


# trajectories -----------------------------------------------------------------------------------------------------
def trajectory_page(store: Store, out: Path, traj_id: str) -> str:
    """A trajectory step by step (token log-probabilities shaded), with its lineage: parent, children, reflections,
    and the revision splice and search tree it came from."""
    try:
        traj = store.get_trajectory(traj_id)
    except StoreError:
        raise PageNotFound(f"no trajectory {traj_id!r} in {store.path}") from None
    row = queries.trajectory_row(store, traj_id)
    success = None if row is None or row.success is None else row.success
    head = {
        "task": traj.task_id,
        "run": run_link(traj.run_id),
        "source": str(traj.source),
        "status": traj.status,
        "success": _verdict(success),
        "reward": row.reward if row else None,
        "steps": len(traj.steps),
        "seed": traj.seed,
        "sample": traj.sample_index,
        "model": traj.model,
        "adapter": traj.adapter,
    }
    body = [summary_row(head, css_id="traj-head")]
    body.append(_lineage(store, traj))
    body.append(
        "<details><summary>system prompt and context</summary>"
        f"<pre>{esc(traj.system_prompt)}</pre>"
        + "".join(f'<p class="label">{esc(m.get("role"))}</p><pre>{esc(m.get("content"))}</pre>' for m in traj.context)
        + "</details>"
    )
    body.append(f'<h2>Task</h2><pre id="initial">{esc(traj.initial_observation)}</pre>')
    body.append("<h2>Steps</h2>" + _steps_html(traj.steps))
    if traj.meta:
        body.append("<h2>Meta</h2>" + kv_table({k: v for k, v in traj.meta.items() if k != "reflections"}))
    return _page(out, f"Trajectory {traj_id}", "".join(body), live=traj.status == "running")


def _verdict(success: bool | None) -> Html:
    if success is None:
        return Html('<span class="muted">-</span>')
    return Html('<span class="ok">solved</span>' if success else '<span class="bad">failed</span>')


def _lineage(store: Store, traj: Any) -> str:
    parts = []
    if traj.parent_id:
        parent = queries.trajectory_row(store, traj.parent_id)
        text = f"{traj.parent_id} ({parent.source}, {'solved' if parent.success else 'failed'})" if parent else ""
        parts.append(
            f'<p id="parent">parent: {traj_link(traj.parent_id, text, parent.success if parent else None)}</p>'
        )
    kids = queries.children(store, traj.id)
    if kids:
        parts.append(
            '<p id="children">made from this one: '
            + " ".join(traj_link(k.id, f"{k.source} {k.id}", k.success) for k in kids)
            + "</p>"
        )
    reflections = traj.meta.get("reflections") or []
    if reflections:
        items = "".join(f"<li><pre>{esc(r)}</pre></li>" for r in reflections)
        parts.append(f'<div id="reflections"><p>reflections this attempt was given:</p><ol>{items}</ol></div>')
    revisions = queries.revisions_touching(store, traj.id)
    for rev in revisions:
        role = "the revised trajectory" if rev["revised_trajectory_id"] == traj.id else "the failed path"
        info = {
            "this is": role,
            "splice": rev["id"],
            "status": rev["status"],
            "tree": tree_link(rev["tree_id"]),
            "cut after step": rev["cut"],
            "paths part at depth": rev["divergence"],
            "first error from": rev["first_error_source"],
            "revision thought": rev["thought"],
            "continuation": rev["continuation"],
            "reason": rev["reason"],
        }
        block = kv_table(info, css_id=f"revision-{rev['id']}")
        others = []
        if rev["bad_trajectory_id"] and rev["bad_trajectory_id"] != traj.id:
            others.append("failed path " + traj_link(rev["bad_trajectory_id"]))
        if rev["revised_trajectory_id"] and rev["revised_trajectory_id"] != traj.id:
            others.append("revised " + traj_link(rev["revised_trajectory_id"]))
        parts.append(block + (f"<p>{', '.join(others)}</p>" if others else ""))
    tree_id = traj.meta.get("tree_id")
    if tree_id and not revisions and queries.tree_exists(store, tree_id):
        parts.append(f'<p id="tree">from search tree {tree_link(tree_id)}</p>')
    return "<h2>Lineage</h2>" + "".join(parts) if parts else ""


def _shade(tokens: list[list[Any]]) -> str:
    """The reply as its tokens, each shaded by how unlikely the model found it (darker: lower probability)."""
    spans = []
    for token, lp in tokens:
        p = math.exp(float(lp))
        alpha = round((1.0 - p) * 0.6, 3)
        spans.append(
            f'<span class="tok" style="background:rgba(214,39,40,{alpha})" title="logprob {float(lp):.3f}">'
            f"{esc(token)}</span>"
        )
    return "".join(spans)


def _steps_html(steps: Any) -> str:
    items = []
    previous_part = None
    for s in steps:
        part = s.info.get("part")
        if part == "thought" and previous_part == "prefix":
            items.append('<li class="cut" id="cut">cut: the failed prefix ends here; the revision thought follows</li>')
        previous_part = part
        tokens = s.info.get("token_logprobs")
        reply = (
            f'<pre class="reply">{_shade(tokens)}</pre>'
            if tokens
            else f'<pre class="reply">{esc(s.model_output)}</pre>'
        )
        extra = {k: v for k, v in s.info.items() if k not in ("token_logprobs", "part")}
        lp = f", mean logprob {s.logprob_mean:.3f}" if s.logprob_mean is not None else ""
        flags = " terminated" if s.terminated else " truncated" if s.truncated else ""
        rows = [("model", reply), ("action", f'<code class="action">{esc(s.action)}</code>'),
                ("observation", f'<pre class="observation">{esc(s.observation)}</pre>')]  # fmt: skip
        if s.feedback:
            rows.append(("feedback", f'<pre class="feedback">{esc(s.feedback)}</pre>'))
        if extra:
            tags = " ".join(f'<span class="tag">{esc(k)}: {value_html(v)}</span>' for k, v in extra.items())
            rows.append(("info", f'<div class="info">{tags}</div>'))
        grid = "".join(f'<span class="label">{name}</span><div>{cell}</div>' for name, cell in rows)
        items.append(
            f'<li class="step{f" part-{esc(part)}" if part else ""}" data-index="{s.index}">'
            f'<div class="sh">step {s.index}{f" ({esc(part)})" if part else ""} — reward {number(s.reward)}{flags}, '
            f'{s.num_tokens} tokens{lp}</div><div class="grid">{grid}</div></li>'
        )
    return f'<ol id="steps" style="padding:0">{"".join(items)}</ol>' if items else "<p>no steps yet</p>"


# trees ------------------------------------------------------------------------------------------------------------
def trees_page(store: Store, out: Path) -> str:
    trees = queries.trees(store)
    rows = [
        [tree_link(t["id"]), esc(t["task_id"]), esc(t["kind"]), "yes" if t["success"] else "no", number(t["nodes"]),
         run_link(t["run_id"]) if t["run_id"] else ""]
        for t in trees
    ]  # fmt: skip
    body = table(["tree", "task", "kind", "solved", "nodes", "run"], rows, css_id="trees") if trees else (
        "<p>no search trees in this store (`kintsugi search` or `kintsugi agent-r` grows them)</p>"
    )  # fmt: skip
    return _page(out, "Search trees", body)


def tree_page(store: Store, out: Path, tree_id: str) -> str:
    """Today's tree page (`kintsugi tree html`), with links to the trajectories its splices made and back."""
    from reflection.tree_store import TreeStore
    from reflection.tree_view import tree_html

    if not queries.tree_exists(store, tree_id):
        raise PageNotFound(f"no search tree {tree_id!r} in {store.path}")
    tree = TreeStore(store).load_tree(tree_id)
    links = []
    for rev in queries.tree_revisions(store, tree_id):
        bits = [f"splice {esc(rev['id'])} ({esc(rev['status'])}, cut after step {rev['cut']})"]
        if rev["bad_trajectory_id"]:
            bits.append("failed path " + traj_link(rev["bad_trajectory_id"]))
        if rev["revised_trajectory_id"]:
            bits.append("revised " + traj_link(rev["revised_trajectory_id"], success=True))
        links.append("<li>" + ", ".join(bits) + "</li>")
    nav = '<p><a href="index.html">all runs</a> · <a href="trees.html">all trees</a>'
    run_id = next((t["run_id"] for t in queries.trees(store) if t["id"] == tree_id), None)
    if run_id:
        nav += f" · run {run_link(run_id)}"
    nav += "</p>"
    extra = nav + (f'<ul id="splices">{"".join(links)}</ul>' if links else "<p>no splices from this tree</p>")
    return tree_html(tree, extra_html=extra)


# adapters -----------------------------------------------------------------------------------------------------------
def adapters_page(store: Store, out: Path) -> str:
    """Every registered adapter with its data, size, training metrics and loss curve."""
    records = queries.adapters(store)
    if not records:
        return _page(out, "Adapters", "<p>no adapters registered in this store</p>")
    parts = []
    for a in records:
        metrics = dict(a["metrics"])
        curve = metrics.pop("loss_curve", None)
        data = esc(a["data"])
        for rid in sorted(set(queries.RUN_ID.findall(a["data"] or ""))):
            data = data.replace(esc(rid), run_link(rid))
        head = {
            "kind": a["kind"],
            "base": a["base_model"],
            "path": a["path"],
            "examples": a["num_examples"],
            "created": when(a["created"]),
        }
        block = [f'<section class="adapter" id="{esc(a["id"])}"><h2>{esc(a["id"])}</h2>', kv_table(head)]
        block.append(f"<p>data: {data}</p>")
        if curve:
            points = [Point(float(step), float(loss)) for step, loss in curve]
            block.append(line_plot([Series("train loss", points)], Axes(title="training loss", x_label="step",
                                                                        y_label="loss")))  # fmt: skip
        else:
            first, last = metrics.get("train_loss_first"), metrics.get("train_loss_last")
            if first is not None and last is not None:
                block.append(
                    f'<p class="muted">loss {number(first)} -> {number(last)}; no curve recorded (trained before '
                    "the registry kept one)</p>"
                )
        block.append("<details><summary>metrics, evals and hyperparameters</summary>")
        block.append(kv_table(metrics) + kv_table(a["evals"]) + kv_table(a["hyperparameters"]) + "</details>")
        parts.append("".join(block) + "</section>")
    return _page(out, "Adapters", "".join(parts))


# learning -----------------------------------------------------------------------------------------------------------
def learning_page(store: Store, out: Path) -> str:
    """The learning study beside the store (`benchmarks/learning.py` writes it): success vs iteration per part with
    95% intervals, and each iteration's paired test against the part's base."""
    path = _learning(out)
    if path is None:
        raise PageNotFound(f"no learning study in {out} (`benchmarks/learning.py --out {out}` writes {LEARNING_FILE})")
    try:
        study = json.loads(path.read_text())
        results = study["results"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PageNotFound(f"{path} is not a learning study ({exc})") from None
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, part in results.items():
        if isinstance(part, dict):
            env = str((part.get("config") or {}).get("env") or "")
            groups.setdefault(env, []).append((name, part))
    plots, tables = [], []
    for env, parts in groups.items():
        series = []
        # a before/after part (the warm start) takes x = 0 and 1; iterated parts in the same environment build on it
        offset = 1.0 if any(_before_after(part) for _, part in parts) else 0.0
        for name, part in parts:
            if _before_after(part):
                points = [
                    Point(x, block["rate"], *(block.get("ci95") or [None, None])[:2], f"{name} {label}: "
                          f"{block['rate']:.3f}")
                    for x, (label, block) in enumerate(part["eval"].items())
                    if isinstance(block, dict) and isinstance(block.get("rate"), int | float)
                ]  # fmt: skip
                series.append(Series(name, points))
                if isinstance(part.get("paired"), dict):
                    tables.append(f"<h2>{esc(name)}</h2>" + kv_table(part["paired"], css_id=f"part-{name}"))
            iterations = part.get("iterations")
            if isinstance(iterations, list) and iterations:
                series.append(Series(name, _iteration_points(name, iterations, offset)))
                tables.append(f"<h2>{esc(name)}</h2>" + _iteration_table(name, iterations))
        label = "0: base model, 1: warm start, 2..: iterations after it" if offset else "iteration (0: its base)"
        axes = Axes(title=f"held-out success{f' — {env}' if env else ''}", x_label=label, y_label="success",
                    y_range=(0.0, 1.0), width=640, height=320)  # fmt: skip
        plots.append(line_plot([s for s in series if s.points], axes))
    body = (
        f"<p>from <code>{esc(path)}</code> (run {run_link(study['run_id']) if study.get('run_id') else '-'}); "
        "bars are 95% Wilson intervals.</p>" + "".join(plots) + "".join(tables)
    )
    return _page(out, "Learning study", body)


def _before_after(part: dict[str, Any]) -> bool:
    """A part that evaluated two models on the same tasks (its `eval` holds two or more rate blocks)."""
    blocks = part.get("eval")
    return isinstance(blocks, dict) and sum(isinstance(b, dict) and "rate" in b for b in blocks.values()) >= 2


def _iteration_points(name: str, iterations: list[dict[str, Any]], offset: float) -> list[Point]:
    return [
        Point(offset + it["iteration"], it["eval_pass_at_1"], *(it.get("eval_ci95") or [None, None])[:2],
              f"{name} iteration {it['iteration']}: {it['eval_pass_at_1']:.3f}")
        for it in iterations
        if isinstance(it.get("eval_pass_at_1"), int | float)
    ]  # fmt: skip


def _iteration_table(name: str, iterations: list[dict[str, Any]]) -> str:
    rows = []
    for it in iterations:
        vs = it.get("vs_base") or {}
        rows.append(
            [
                esc(it.get("iteration")),
                number(it.get("eval_pass_at_1")),
                esc(_interval(it.get("eval_ci95"))),
                number(it.get("agent_sft_size")),
                number(it.get("train_loss")),
                esc(f"{vs['difference']:+.3f}") if vs else "",
                esc(f"{vs['only_baseline']}/{vs['only_method']}") if vs else "",
                esc(f"{vs['p_value']:.3g}") if vs else "",
            ]
        )
    headers = ["iteration", "held-out success", "95% CI", "SFT examples", "train loss", "vs base",
               "only base / only method", "McNemar p"]  # fmt: skip
    return table(headers, rows, css_id=f"part-{name}")


def _interval(ci: Any) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}" if _is_interval(ci) else ""


# test-time self-improvement ---------------------------------------------------------------------------------------
def ttsi_page(store: Store, out: Path) -> str:
    """Every TT-SI report beside the store: base vs variant, and for each uncertain input the examples written and
    the answer before and after."""
    reports = _ttsi_reports(out)
    if not reports:
        raise PageNotFound(f"no TT-SI report in {out} (`kintsugi tt-si --out {out}` writes one)")
    parts = []
    for path in reports:
        try:
            report = json.loads(path.read_text())
            summary = {
                "variant": report["variant"],
                "env": report.get("env"),
                "suite / split": f"{report.get('suite')} / {report.get('split')}",
                "inputs": report["inputs"],
                "base": Html(rate(report["base"]["passed"], report["base"]["n"], report["base"]["ci95"])),
                report["variant"]: Html(
                    rate(report["adapted"]["passed"], report["adapted"]["n"], report["adapted"]["ci95"])
                ),
                "judged uncertain": report.get("uncertain_share"),
            }
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            parts.append(f"<h2>{esc(path.name)}</h2><p class='error'>not a TT-SI report ({esc(exc)})</p>")
            continue
        rows = [r for r in report.get("per_input") or [] if r.get("uncertain")]
        block = [f'<section class="ttsi" id="{esc(path.stem)}"><h2>{esc(path.name)}</h2>', kv_table(summary)]
        block.append(f"<p>{len(rows)} uncertain inputs (adapted to); confident inputs keep the base answer.</p>")
        for r in rows:
            if "base_answer" not in r:  # a per-step (household) row: show what it holds
                block.append(kv_table(r))
                continue
            before, after = _verdict(r.get("base_passed")), _verdict(r.get("variant_passed"))
            examples = "".join(f"<li><pre>{esc(e)}</pre></li>" for e in r.get("example_texts") or [])
            block.append(
                f'<div class="ttsi-input" data-task="{esc(r["task_id"])}"><h3>{esc(r["task_id"])} — confidence '
                f"{number(r.get('confidence'))}: base {before} -> {esc(report['variant'])} {after}</h3>"
                f"<details><summary>{r.get('examples', 0)} examples kept of {r.get('examples_written', 0)} "
                f"written</summary><ol>{examples}</ol></details>"
                + table(
                    ["base answer", f"{report['variant']} answer"],
                    [
                        [
                            f'<pre class="before">{esc(r.get("base_answer"))}</pre>',
                            f'<pre class="after">{esc(r.get("variant_answer"))}</pre>',
                        ]
                    ],
                )
                + "</div>"
            )
        parts.append("".join(block) + "</section>")
    return _page(out, "Test-time self-improvement", "".join(parts))
