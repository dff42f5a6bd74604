"""The training commands: `warm-start`, `self-train` and `agent-r` (staged, resumable trainers run under one
progress bar) and `train` (one LoRA fit)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from agents.cli.common import (
    app,
    console,
    fail,
    open_store,
    out,
    setup_logging,
    store_file,
    trained_prompt,
    with_execution_flags,
)


@app.command("warm-start")
def warm_start(
    ctx: typer.Context,
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
    ray: str = typer.Option(None, "--ray", help="Play demos and held-out episodes on Ray: auto or HOST:PORT."),
    ray_workers: int = typer.Option(2, min=1, help="Episode workers on Ray, each with its own model."),
    seed: int = typer.Option(0, help="Seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished warm start in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Warm start by behaviour cloning: the expert's episodes -> fine-tune -> held-out success, base vs warm, paired."""
    setup_logging(verbose)
    from environments.base import get_entry
    from training.warm_start import WarmStartConfig, WarmStarter

    store_path = store_file(out_dir)
    store = open_store(store_path)
    run_id = None
    try:
        if resume:
            prior = store.latest_run(unfinished=True, kind="warm-start")
            if prior is None:
                fail(f"nothing to resume in {store_path}: no unfinished warm start")
            run_id = prior["id"]
            config = with_execution_flags(ctx, WarmStartConfig.from_dict(prior["config"]))
        else:
            config = WarmStartConfig(
                env=env, suite=suite, split=split, demos=demos, prompt=prompt, eval_split=eval_split,
                eval_limit=eval_limit, eval_base=eval_base, max_steps=max_steps, finetune=finetune, epochs=epochs,
                learning_rate=lr,
                lora_r=rank, lora_alpha=alpha, seed=seed, ray=ray, ray_workers=ray_workers,
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
    ctx: typer.Context,
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
    ray: str = typer.Option(None, "--ray", help="Play episodes on Ray: auto (a local cluster) or HOST:PORT."),
    ray_workers: int = typer.Option(2, min=1, help="Episode workers on Ray, each with its own model."),
    seed: int = typer.Option(0, help="Seed for sampling and environments."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished self-training run in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Self-train the agent (ReST / Re-ReST): sample, repair, LoRA SFT, evaluate; resumable by stage."""
    setup_logging(verbose)
    from training.self_training import SelfTrainConfig, SelfTrainer

    store_path = store_file(out_dir)
    store = open_store(store_path)
    run_id = None
    try:
        if resume:
            prior = store.latest_run(unfinished=True, kind="self-train")
            if prior is None:
                fail(f"nothing to resume in {store_path}: no unfinished self-training run")
            run_id = prior["id"]
            stored = {**prior["config"], "target_modules": tuple(prior["config"]["target_modules"])}
            config = with_execution_flags(ctx, SelfTrainConfig(**stored))
        else:
            config = SelfTrainConfig(
                env=env, suite=suite, method=method, iterations=iterations, samples=samples, train_split=train_split,
                eval_split=eval_split, limit=limit, eval_limit=eval_limit, max_steps=max_steps,
                max_per_task=max_per_task, base=base, base_adapter=base_adapter, prompt=prompt, finetune=finetune,
                batch_size=batch_size,
                reflect_rounds=reflect_rounds, epochs=epochs, learning_rate=lr, max_tokens=max_tokens,
                train_reflector=train_reflector, reflexion_eval=reflexion_eval, seed=seed,
                ray=ray, ray_workers=ray_workers, consistency_eval=consistency_eval,
                consistency_rounds=consistency_rounds,
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
    ctx: typer.Context,
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
    allow_thoughts: bool = typer.Option(
        False, "--allow-thoughts", help="Keep the model's think: replies as tree children (a policy that reasons)."
    ),
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
    ray: str = typer.Option(None, "--ray", help="Search and evaluate on Ray: auto (a local cluster) or HOST:PORT."),
    ray_workers: int = typer.Option(2, min=1, help="Episode workers on Ray, each with its own model."),
    seed: int = typer.Option(0, help="Seed for search, sampling and environments."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished Agent-R run in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Agent-R: MCTS, verified revision trajectories, LoRA SFT, held-out evaluation; resumable by stage."""
    setup_logging(verbose)
    from training.agent_r import AgentRConfig, AgentRTrainer

    store_path = store_file(out_dir)
    store = open_store(store_path)
    run_id = None
    try:
        if resume:
            prior = store.latest_run(unfinished=True, kind="agent-r")
            if prior is None:
                fail(f"nothing to resume in {store_path}: no unfinished Agent-R run")
            run_id = prior["id"]
            config = with_execution_flags(ctx, AgentRConfig.from_dict(prior["config"]))
        else:
            config = AgentRConfig(
                env=env, suite=suite, train_split=train_split, eval_split=eval_split, iterations=iterations,
                limit=limit, eval_limit=eval_limit, eval_max_steps=eval_max_steps, search_iterations=search_iterations,
                expansions=expansions, max_depth=max_depth, rollout=rollout, admissible=admissible,
                allow_thoughts=allow_thoughts, resolve=resolve,
                continuations=tuple(c.strip() for c in continuations.split(",") if c.strip()), judge=judge,
                thought=thought, alpha=alpha, beta=beta, max_tokens=max_tokens, epochs=epochs, learning_rate=lr,
                seed=seed, base=base, prompt=prompt or trained_prompt(base), finetune=finetune, ray=ray,
                ray_workers=ray_workers,
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
    setup_logging(verbose)
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
