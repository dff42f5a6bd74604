"""`kintsugi tt-si`: test-time self-improvement (TT-SI, TT-D, TT-ICL), base vs variant on the same inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from agents.cli.common import (
    app,
    console,
    fail,
    out,
    setup_logging,
)


@app.command("tt-si")
def tt_si(
    ctx: typer.Context,
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
    ray: str = typer.Option(None, "--ray", help="Run the inputs on Ray: auto (a local cluster) or HOST:PORT."),
    ray_workers: int = typer.Option(2, min=1, help="TT-SI workers on Ray, each with its own model."),
    seed: int = typer.Option(0, help="Seed."),
    out_dir: Path = typer.Option(
        None, "--out", help="Keep each finished input in OUT's store and write the report to OUT/ttsi-*.json."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished TT-SI run in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log progress details."),
) -> None:
    """Test-time self-improvement: base vs the variant on the same inputs (tasks or agent steps, per environment)."""
    setup_logging(verbose)
    from dataclasses import asdict

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from training.ttsi import TTSIOptions, ttsi_command

    command = {"env": env, "suite": suite, "split": split, "tau": tau, "k": k, "variant": variant,
               "estimator": estimator, "limit": limit, "teacher_backend": teacher_backend, "teacher_model": teacher,
               "teacher_api_base": api_base, "epochs": epochs, "lr": lr, "seed": seed}  # fmt: skip
    options = TTSIOptions(max_steps=max_steps, max_adaptations=max_adaptations, candidates=candidates)
    store, run_id, checkpoint = None, None, None
    if resume and out_dir is None:
        fail("--resume continues a run kept in a store: name its folder with --out")
    if out_dir is not None:
        from agents.cli.common import open_store, refuse_contradictions, store_file
        from training.ttsi_checkpoint import TTSICheckpoint

        if not resume:
            _check(command)  # a bad env, suite or variant is refused before a store or run is made
        store = open_store(store_file(out_dir))
        if resume:
            prior = store.latest_run(unfinished=True, kind="tt-si")
            if prior is None:
                fail(f"nothing to resume in {out_dir}: no unfinished TT-SI run (drop --resume to start one)")
            run_id = prior["id"]
            stored = prior["config"]
            refuse_contradictions(ctx, {**stored["command"], **stored["options"]}, run_id, renames=COMMAND_NAMES)
            command, options = stored["command"], TTSIOptions(**stored["options"])
            console.print(f"resuming {run_id}")
        else:
            run_id = store.create_run({"command": command, "options": asdict(options)}, kind="tt-si", model="smollm2")
        checkpoint = TTSICheckpoint(store, run_id)
    progress = Progress(TextColumn("[bold]inputs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True)  # fmt: skip
    bar = progress.add_task("inputs", total=None)
    try:
        with progress:
            report = ttsi_command(
                **command, num_threads=threads, ray=ray, ray_workers=ray_workers, options=options,
                checkpoint=checkpoint, on_progress=lambda done, total: progress.update(bar, completed=done, total=total)
            )  # fmt: skip
    except (ValueError, TypeError, KeyError) as exc:
        fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc))
    except KeyboardInterrupt:
        if store is None:
            raise
        console.print(f"interrupted: every finished input is stored in {out_dir}; continue with --resume")
        raise typer.Exit(130) from None
    finally:
        if store is not None:
            store.close()
    if out_dir is not None:
        from training.ttsi import record_report

        try:
            path, run_id = record_report(report, out_dir, run_id=run_id)
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


COMMAND_NAMES = {"teacher": "teacher_model", "api_base": "teacher_api_base"}
"""Options stored under `ttsi_command`'s argument names (the rest keep their own)."""


def _check(command: dict[str, Any]) -> None:
    """Refuse an unknown environment, suite, split, variant or estimator before anything is stored."""
    from environments.base import get_entry
    from training.ttsi import TTSIConfig

    try:
        entry = get_entry(command["env"])
        entry.ability("ttsi")
        TTSIConfig(variant=command["variant"], estimator=command["estimator"])
        entry.load_tasks(command["suite"] or entry.default_suite, command["split"] or entry.eval_split,
                         command["limit"])  # fmt: skip
    except KeyError as exc:
        fail(str(exc.args[0]))
    except ValueError as exc:
        fail(str(exc))
