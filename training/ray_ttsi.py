"""TT-SI on Ray (`kintsugi tt-si --ray`): each worker is an actor with its own model (rebuilt from the base model's
recipe, one CPU) and its own teacher, and runs the environment's TT-SI (`EnvEntry.ttsi`) on one task at a time;
the driver joins the workers' reports in task order. Every task is adapted to on its own (the temporary LoRA is
made and removed per input), so a task's rows do not depend on which worker ran it or what ran before. A worker
that dies costs its task a rerun on a new worker."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from agents.llm.base import LLMRecipe
from environments.base import EnvEntry, TaskSpec
from training.ttsi import TTSIConfig, TTSIOptions, TTSIResults, join_reports


class TTSIWorker:
    """A Ray actor: the model, the teacher (a recipe is built here; `expert` or None stay names) and one
    environment's TT-SI, run on one task per call."""

    def __init__(
        self, env: str, recipe: LLMRecipe, config: TTSIConfig, teacher: LLMRecipe | str | None, options: TTSIOptions
    ) -> None:
        from environments.base import get_entry

        self.entry = get_entry(env)
        self.run_env = self.entry.ability("ttsi")
        self.llm = recipe.build(threads=1)  # one core per worker
        self.teacher = teacher.build(threads=1) if isinstance(teacher, LLMRecipe) else teacher
        self.config, self.options = config, options

    def run(self, task: TaskSpec) -> tuple[TTSIResults, int, float]:
        """(the report on `task`, this worker's pid, seconds it took)."""
        start = time.perf_counter()
        report = self.run_env(self.entry, self.llm, [task], self.config, teacher=self.teacher, options=self.options,
                              on_progress=None)  # fmt: skip
        return report, os.getpid(), time.perf_counter() - start


def ttsi_on_ray(
    entry: EnvEntry,
    recipe: LLMRecipe,
    tasks: Sequence[TaskSpec],
    config: TTSIConfig,
    *,
    teacher: LLMRecipe | str | None,
    options: TTSIOptions,
    address: str,
    workers: int,
    on_input: Callable[[TaskSpec, TTSIResults, float], None] | None = None,
) -> TTSIResults:
    """The environment's TT-SI report on `tasks`, the tasks shared out to `workers` workers on the cluster at
    `address` (`auto`: a local one for the run); the report's inputs are in task order. `on_input(task, its report,
    seconds)` is called as each input finishes (in the order they finish)."""
    import ray

    from agents.ray_runner import ActorPool, LocalCluster, connect

    if workers < 1:
        raise ValueError(f"ray_workers must be at least 1, got {workers}")
    if not tasks:
        raise ValueError("no inputs to run TT-SI on")
    connected = connect(address, LocalCluster(), workers)
    actor = ray.remote(num_cpus=1, max_restarts=0)(TTSIWorker)
    pool = ActorPool(actor, (entry.name, recipe, config, teacher, options), workers)
    parts: dict[int, Any] = {}
    try:
        ran = pool.results(list(range(len(tasks))), lambda worker, i: worker.run.remote(tasks[i]),
                           lambda i: tasks[i].task_id)  # fmt: skip
        for index, (part, _pid, seconds) in ran:
            parts[index] = part
            if on_input:
                on_input(tasks[index], part, seconds)
    finally:
        pool.close()
        if connected:
            ray.shutdown()
    return join_reports([parts[index] for index in range(len(tasks))])
