"""Scale-out on Ray: household episodes/min in process vs on a local Ray cluster with 1 and 2 workers, in one run.

    .venv/bin/python benchmarks/scale.py [--episodes 16] [--max-steps 10]

The same valid_unseen games, greedy, the compact prompt, the embedded model with the transformers backend: in process
(one model, the batch advanced in lock-step, 2 torch threads) and on a local Ray cluster started by the run (`--ray
auto`), each worker an actor with its own model and one thread. Prints episodes/min and the ratio to the in-process
runner, checks that every run stored the same actions, and says where the time went (worker start-up vs playing).
On 2 cores the ceiling is about 2x over one worker, and the in-process runner already uses both cores for its batch.
Needs `pip install 'kintsugi[ray]'`. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def play(config, llm=None) -> dict:
    from agents.runner import run_agent
    from agents.store import Store

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "k.db") as store:
        start = time.perf_counter()
        result = run_agent(llm, store, config)
        seconds = time.perf_counter() - start
        trajectories = store.trajectories(result.run_id, status="done")
        actions = {t.task_id: [s.action for s in t.steps] for t in trajectories}
        busy = sum(s.gen_seconds + s.env_seconds for t in trajectories for s in t.steps)
    m = result.metrics
    return {"episodes": m["trajectories"], "steps": m["steps"], "seconds": seconds, "busy_seconds": busy,
            "per_minute": 60 * m["trajectories"] / seconds, "actions": actions}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from agents.llm import make_llm
    from agents.runner import RunConfig

    config = RunConfig(env="household", split="valid_unseen", limit=args.episodes, max_steps=args.max_steps,
                       prompt="compact", batch_size=8)  # fmt: skip
    print(f"how: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"household valid_unseen first {args.episodes} games, greedy, at most {args.max_steps} steps, compact prompt")
    rows = {"in process (batch 8, 2 threads)": play(config, make_llm("transformers", num_threads=2))}
    for workers in (1, 2):
        rows[f"ray auto, {workers} worker(s)"] = play(replace(config, ray="auto", ray_workers=workers))
    base = next(iter(rows.values()))
    for name, row in rows.items():
        same = row["actions"] == base["actions"]
        print(f"{name:34s} {row['episodes']} episodes in {row['seconds']:6.1f} s = {row['per_minute']:5.1f}/min "
              f"({row['per_minute'] / base['per_minute']:.2f}x in process; playing {row['busy_seconds']:.0f} s of "
              f"episode time; same actions as in process: {same})")  # fmt: skip
    one, two = rows["ray auto, 1 worker(s)"], rows["ray auto, 2 worker(s)"]
    print(f"2 workers vs 1: {two['per_minute'] / one['per_minute']:.2f}x")
    if args.json:
        print(json.dumps({k: {x: y for x, y in v.items() if x != "actions"} for k, v in rows.items()}))


if __name__ == "__main__":
    main()
