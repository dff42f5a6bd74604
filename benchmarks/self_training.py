"""Base vs ReST vs Re-ReST after one iteration, on the `easy` suite's test split, with the embedded model.

Both methods train on the same sampled trajectories (one sampling stage, shared): they differ only in
Re-ReST's environment-confirmed repairs. Held-out pass@1 is greedy, one attempt, with 95% Wilson intervals.
Prompts were never tuned on the test split.

    .venv/bin/python benchmarks/self_training.py --limit 24 --samples 4 --eval-limit 64 --out runs/bench-self-train
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
    parser.add_argument("--limit", type=int, default=24, help="training tasks (of 96)")
    parser.add_argument("--samples", type=int, default=4, help="samples per training task")
    parser.add_argument("--eval-limit", type=int, default=None, help="held-out tasks (default: all 64)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-self-train"))
    parser.add_argument(
        "--reflexion-eval", action="store_true", help="also measure Reflexion-style retry on held-out failures"
    )
    parser.add_argument(
        "--consistency-eval",
        action="store_true",
        help="also measure inference without ground truth: blind reflections + a vote by behaviour on the examples",
    )
    parser.add_argument("--consistency-rounds", type=int, default=2, help="blind reflection rounds per task")
    parser.add_argument("--consistency-samples", type=int, default=4, help="extra sampled answers per task")
    args = parser.parse_args()

    from agents.llm import make_llm
    from agents.store import Store
    from training.self_training import SelfTrainConfig, SelfTrainer

    started = time.perf_counter()
    base = make_llm("transformers", "smollm2")
    common = dict(samples=args.samples, limit=args.limit, eval_limit=args.eval_limit, epochs=args.epochs,
                  max_tokens=args.max_tokens)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    reports = {}
    with Store(args.out / "kintsugi.db") as store:
        rerest = SelfTrainer(
            store,
            args.out / "re-rest",
            SelfTrainConfig(
                method="re-rest",
                reflexion_eval=args.reflexion_eval,
                consistency_eval=args.consistency_eval,
                consistency_rounds=args.consistency_rounds,
                consistency_samples=args.consistency_samples,
                **common,
            ),
            base.with_adapter,
        )
        reports["re-rest"] = rerest.run()
        rest = SelfTrainer(store, args.out / "rest", SelfTrainConfig(method="rest", **common), base.with_adapter)
        # ReST reuses Re-ReST's base evaluation and sampling stages (recorded as finished), so both methods see
        # exactly the same samples; only the dataset, training and evaluation stages run again.
        for iteration, stage in ((0, "eval"), (1, "sample")):
            shared = rerest.stages.get(iteration, stage)
            rest.stages.mark(iteration, stage, "done", shared["result"], shared["seconds"])
        reports["rest"] = rest.run()
    base_row = reports["re-rest"]["iterations"][0]
    rows = [("base", base_row)] + [(m, reports[m]["iterations"][-1]) for m in ("rest", "re-rest")]
    print(f"easy/test, greedy pass@1, 1 attempt; training data: {args.limit} train tasks x {args.samples} samples")
    print(f"{'method':<8} {'pass@1':>7}  {'95% CI':<13} {'SFT examples':>12} {'repaired/failed':>16}")
    for name, r in rows:
        repaired = f"{r['repaired']}/{r['failures']}" if r.get("failures") is not None else "-"
        size = r["agent_sft_size"] if r["agent_sft_size"] is not None else "-"
        if r["eval_pass_at_1"] is None:  # nothing to train on, so no adapter was made
            print(f"{name:<8} {'-':>7}  {'-':<13} {size:>12} {repaired:>16}")
            continue
        lo, hi = r["eval_ci95"]
        print(f"{name:<8} {r['eval_pass_at_1']:>7.3f}  {lo:.3f}-{hi:.3f}   {size:>12} {repaired:>16}")
    for name, r in (("base", base_row), ("re-rest", reports["re-rest"]["iterations"][-1])):
        if r.get("eval_with_reflexion") is not None:
            lo, hi = r["eval_with_reflexion_ci95"]
            print(f"{name} + Reflexion retry (environment feedback): {r['eval_with_reflexion']:.3f}  {lo:.3f}-{hi:.3f}")
        for key, what in (("consistency", "blind reflection + vote"), ("majority", "majority vote, no reflection")):
            if r.get(f"eval_with_{key}") is not None:
                lo, hi = r[f"eval_with_{key}_ci95"]
                print(f"{name} + {what} (no ground truth): {r[f'eval_with_{key}']:.3f}  {lo:.3f}-{hi:.3f}")
    print(f"wall time {time.perf_counter() - started:.0f}s; reports in {args.out}")
    (args.out / "benchmark.json").write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
