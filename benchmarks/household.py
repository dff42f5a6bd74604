"""Speed of Kintsugi's household environment against the real ALFWorld engine: steps per second.

    python benchmarks/household.py --tasks 300 --split valid_unseen --alfworld-tasks 20

Both policies (the oracle expert's plan, uniformly random admissible actions) play Kintsugi's engine
on `--tasks` tasks. Where `alfworld` is importable (`pip install 'kintsugi[alfworld]'`), the first
`--alfworld-tasks` of the same tasks are written as ALFRED PDDL problems and played the same way in
the real ALFWorld (TextWorld PDDL) engine, and the per-step speed ratio is printed (target: >= 100x).
Otherwise the output says the engine was not measured.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from environments.base import Environment, TaskSpec
from environments.household import SPLIT_SIZES, expert_plan, load_tasks, make_env
from environments.household.alfworld_engine import alfworld_available, make_alfworld_env
from environments.household.generate import build_world

EnvMaker = Callable[..., Environment]


@dataclass(frozen=True)
class BenchResult:
    """One policy's run over the tasks in one engine."""

    engine: str
    """`kintsugi` or `alfworld`."""
    policy: str
    """Policy name."""
    episodes: int
    """Episodes played."""
    wins: int
    """Episodes solved."""
    steps: int
    """Environment steps taken (resets not counted)."""
    seconds: float
    """Wall time, including building the env, resets, planning and action choice."""
    step_seconds: float
    """Time spent inside `step` only."""

    @property
    def ms_per_step(self) -> float:
        """Milliseconds inside `step`, per step."""
        return 1000 * self.step_seconds / self.steps


def _timed_step(env: Environment, action: str) -> tuple[float, tuple]:
    start = time.perf_counter()
    out = env.step(action)
    return time.perf_counter() - start, out


def run_expert(
    tasks: list[TaskSpec], max_steps: int, make: EnvMaker = make_env, engine: str = "kintsugi"
) -> BenchResult:
    """The oracle expert: plan from the task's start state (in Kintsugi's model), then play the plan."""
    wins = steps = 0
    in_step = 0.0
    start = time.perf_counter()
    for task in tasks:
        env = make(task, max_steps=max_steps)
        env.reset()
        for action in expert_plan(build_world(task)):
            spent, (*_, info) = _timed_step(env, action)
            in_step += spent
            steps += 1
        wins += info["won"]
        env.close()
    return BenchResult(engine, "expert", len(tasks), wins, steps, time.perf_counter() - start, in_step)


def run_random(
    tasks: list[TaskSpec], max_steps: int, seed: int, make: EnvMaker = make_env, engine: str = "kintsugi"
) -> BenchResult:
    """Uniformly random admissible actions (the engine's own list) until the episode ends."""
    rng = random.Random(seed)
    wins = steps = 0
    in_step = 0.0
    start = time.perf_counter()
    for task in tasks:
        env = make(task, max_steps=max_steps)
        _, info = env.reset()
        terminated = truncated = False
        while not (terminated or truncated):
            spent, (_, _, terminated, truncated, info) = _timed_step(env, rng.choice(info["admissible_actions"]))
            in_step += spent
            steps += 1
        wins += info["won"]
        env.close()
    return BenchResult(engine, "random", len(tasks), wins, steps, time.perf_counter() - start, in_step)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run both policies in both engines (ALFWorld's where installed), print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", type=int, default=300, help="tasks to play in Kintsugi's engine (first N of the split)"
    )
    parser.add_argument(
        "--alfworld-tasks", type=int, default=20, help="of those, how many to play in ALFWorld's engine"
    )
    parser.add_argument("--split", default="valid_unseen", choices=sorted(SPLIT_SIZES))
    parser.add_argument("--max-steps", type=int, default=50, help="truncation horizon")
    parser.add_argument("--seed", type=int, default=0, help="random policy's seed")
    args = parser.parse_args(argv)

    tasks = load_tasks(split=args.split, limit=args.tasks)
    results = [run_expert(tasks, args.max_steps), run_random(tasks, args.max_steps, args.seed)]
    measured = alfworld_available() and args.alfworld_tasks > 0
    if measured:
        same = tasks[: args.alfworld_tasks]
        results += [
            run_expert(same, args.max_steps, make_alfworld_env, "alfworld"),
            run_random(same, args.max_steps, args.seed, make_alfworld_env, "alfworld"),
        ]

    table = Table(title=f"household tasks of {args.split}, max_steps={args.max_steps}")
    columns = ("engine", "policy", "episodes", "success", "steps", "seconds", "steps/s", "ms/step", "episodes/s")
    for column in columns:
        table.add_column(column, justify="left" if column in ("engine", "policy") else "right")
    for r in results:
        table.add_row(
            r.engine,
            r.policy,
            str(r.episodes),
            f"{r.wins / r.episodes:.1%}",
            str(r.steps),
            f"{r.seconds:.3f}",
            f"{r.steps / r.seconds:,.0f}",
            f"{r.ms_per_step:.4f}",
            f"{r.episodes / r.seconds:,.2f}",
        )
    console = Console()
    console.print(table)
    if not measured:
        why = "`alfworld` is not importable here" if args.alfworld_tasks > 0 else "--alfworld-tasks 0"
        console.print(f"ALFWorld engine: not measured ({why}), so no speed ratio.")
        return
    ours = {r.policy: r for r in results if r.engine == "kintsugi"}
    for real in (r for r in results if r.engine == "alfworld"):
        mine = ours[real.policy]
        per_step = real.ms_per_step / mine.ms_per_step
        wall = (mine.steps / mine.seconds) / (real.steps / real.seconds)
        verdict = "meets" if per_step >= 100 else "misses"
        console.print(
            f"{real.policy}: Kintsugi is {per_step:,.0f}x faster per step than ALFWorld's engine "
            f"({wall:,.0f}x in steps/s counting resets and env building); {verdict} the >= 100x target."
        )


if __name__ == "__main__":
    main()
