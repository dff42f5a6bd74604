"""Tree search on Ray (`SearchConfig.ray`): each worker is an actor with its own model (rebuilt from the search
model's recipe) and its own environment resources, grows whole trees (`mcts_pipeline.grow_tree`) and sends them
back; the driver revises and stores them in task order, so the store keeps one writer and the records are those of
a search in process. A worker that dies costs its tree a regrowth on a new worker (a tree is grown from its task's
seed, so it comes out the same)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from agents.llm.base import LLMRecipe
from agents.types import LLM
from environments.base import TaskSpec

log = logging.getLogger(__name__)


class TreeWorker:
    """A Ray actor: a model and the environment's resources, growing one tree per call."""

    def __init__(self, recipe: LLMRecipe, config: Any) -> None:
        from environments.base import get_entry

        self.llm = recipe.build(threads=1)  # one core per worker
        self.config = config
        self.entry = get_entry(config.env)
        self.resources = self.entry.resources()

    def grow(self, task: TaskSpec) -> tuple[Any, float, int, int]:
        """(tree, seconds, LLM calls, this worker's pid)."""
        from reflection.mcts_pipeline import grow_tree

        tree, seconds, calls = grow_tree(self.llm, self.entry, self.config, task, self.resources)
        return tree, seconds, calls, os.getpid()


def grow_on_ray(llm: LLM, config: Any, tasks: list[TaskSpec]) -> Iterator[tuple[Any, float, int]]:
    """(tree, seconds, calls) per task, in task order, grown on `config.ray` by `config.ray_workers` workers, which
    keep growing while the caller handles what came back; each tree's stats name the worker (`ray_worker_pid`)."""
    import ray

    from agents.ray_runner import ActorPool, LocalCluster, connect

    recipe = llm.recipe()  # type: ignore[attr-defined]
    connected = connect(config.ray, LocalCluster(), config.ray_workers)
    pool = ActorPool(ray.remote(num_cpus=1, max_restarts=0)(TreeWorker), (recipe, config), config.ray_workers)
    try:
        done: dict[int, tuple[Any, float, int]] = {}
        emitted = 0
        grown = pool.results(list(range(len(tasks))), lambda worker, i: worker.grow.remote(tasks[i]),
                             lambda i: tasks[i].task_id)  # fmt: skip
        for index, (tree, seconds, calls, pid) in grown:
            tree.stats["ray_worker_pid"] = pid
            done[index] = (tree, seconds, calls)
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1
        if pool.retried:
            log.warning("%d tree(s) were grown again after their worker died", pool.retried)
    finally:
        pool.close()
        if connected:
            ray.shutdown()
