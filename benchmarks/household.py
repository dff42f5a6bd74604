"""Speed of Kintsugi's household environment: expert and random policies, steps per second.

    python benchmarks/household.py --tasks 300 --split valid_unseen

The baseline is the real ALFWorld (TextWorld) engine; it is measured only where `alfworld` is
importable (it is not installed by Kintsugi), otherwise the table says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from environments.base import TaskSpec
from environments.household import SPLIT_SIZES, expert_plan, load_tasks, make_env


@dataclass(frozen=True)
class BenchResult:
    """One policy's run over the tasks."""

    policy: str
    """Policy name."""
    episodes: int
    """Episodes played."""
    wins: int
    """Episodes solved."""
    steps: int
    """Environment steps taken (resets not counted)."""
    seconds: float
    """Wall time, including resets, planning and action choice."""


def run_expert(tasks: list[TaskSpec], max_steps: int) -> BenchResult:
    """The oracle expert: plan from the start state, then play the plan."""
    wins = steps = 0
    start = time.perf_counter()
    for task in tasks:
        env = make_env(task, max_steps=max_steps)
        env.reset()
        for action in expert_plan(env):
            *_, info = env.step(action)
            steps += 1
        wins += info["won"]
    return BenchResult("expert", len(tasks), wins, steps, time.perf_counter() - start)


def run_random(tasks: list[TaskSpec], max_steps: int, seed: int) -> BenchResult:
    """Uniformly random admissible actions until the episode ends."""
    rng = random.Random(seed)
    wins = steps = 0
    start = time.perf_counter()
    for task in tasks:
        env = make_env(task, max_steps=max_steps)
        _, info = env.reset()
        terminated = truncated = False
        while not (terminated or truncated):
            _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
            steps += 1
        wins += info["won"]
    return BenchResult("random", len(tasks), wins, steps, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run both policies, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300, help="tasks to play (first N of the split)")
    parser.add_argument("--split", default="valid_unseen", choices=sorted(SPLIT_SIZES))
    parser.add_argument("--max-steps", type=int, default=50, help="truncation horizon")
    parser.add_argument("--seed", type=int, default=0, help="random policy's seed")
    args = parser.parse_args(argv)

    tasks = load_tasks(split=args.split, limit=args.tasks)
    results = [run_expert(tasks, args.max_steps), run_random(tasks, args.max_steps, args.seed)]

    table = Table(title=f"household env, {len(tasks)} tasks of {args.split}, max_steps={args.max_steps}")
    for column in ("policy", "episodes", "success", "steps", "seconds", "steps/s", "episodes/s"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for r in results:
        table.add_row(
            r.policy,
            str(r.episodes),
            f"{r.wins / r.episodes:.1%}",
            str(r.steps),
            f"{r.seconds:.3f}",
            f"{r.steps / r.seconds:,.0f}",
            f"{r.episodes / r.seconds:,.0f}",
        )
    console = Console()
    console.print(table)
    if importlib.util.find_spec("alfworld") is None:
        console.print("ALFWorld engine: not measured (`alfworld` is not importable here), so no speed ratio.")
    else:
        console.print("ALFWorld engine: importable, but the side-by-side run is not implemented yet; not measured.")


if __name__ == "__main__":
    main()
