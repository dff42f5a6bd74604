"""Inference without ground truth on the code env's `easy` test split, with the embedded model (no training).

On the same tasks: the greedy answer (baseline), a plain majority vote over greedy + sampled answers, the last
answer of the greedy answer's blind reflection chain (no vote), and Re-ReST's reflection + self-consistency vote
(`environments/code/consistency.py`). Every choice is made without the tests; each chosen answer is then graded once.

    .venv/bin/python benchmarks/consistency.py --limit 32 --rounds 2 --samples 4

Per-task candidates, behaviours and votes go to `--out` (jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=32, help="test tasks (of 64)")
    parser.add_argument("--rounds", type=int, default=2, help="blind reflection rounds after the greedy answer")
    parser.add_argument("--samples", type=int, default=4, help="sampled answers per task")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-consistency.jsonl"))
    args = parser.parse_args()

    from agents.llm import make_llm
    from environments.code.consistency import ConsistencyConfig, evaluate_consistency, summarize_consistency
    from environments.code.tasks import load_code_tasks
    from sandboxes import make_sandbox

    llm = make_llm("transformers", "smollm2")
    tasks = load_code_tasks("easy", "test", args.limit)
    config = ConsistencyConfig(rounds=args.rounds, samples=args.samples, max_tokens=args.max_tokens)
    sandbox = make_sandbox("local")
    started = time.perf_counter()
    try:
        outcomes = evaluate_consistency(llm, tasks, sandbox, config)
    finally:
        sandbox.close()
    seconds = time.perf_counter() - started
    summary = summarize_consistency(outcomes)
    print(f"easy/test, {len(tasks)} tasks; {args.rounds} blind reflection rounds, {args.samples} samples (T=0.8)")
    for key, name in (
        ("first", "greedy (baseline)"),
        ("majority", "majority vote, no reflection"),
        ("last_reflection", "last blind reflection, no vote"),
        ("consistency", "blind reflection + vote"),
    ):
        if summary[f"success_{key}"] is None:
            continue
        lo, hi = summary[f"success_{key}_ci95"]
        print(f"{name:<32} {summary[f'success_{key}']:.3f}  ({lo:.3f}-{hi:.3f})")
    agree = summary["mean_support"]
    print(f"candidates per task {summary['mean_candidates']:.1f}, agreeing with the voted one {agree:.2f}")
    print(f"wall time {seconds:.0f}s; details in {args.out}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(o.to_dict()) + "\n" for o in outcomes))


if __name__ == "__main__":
    main()
