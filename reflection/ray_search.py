"""Tree search on Ray (`SearchConfig.ray`): each worker is an actor with its own model (rebuilt from the search
model's recipe) and its own environment resources, grows whole trees (`mcts_pipeline.grow_tree`) and sends them
back; the driver revises and stores them in task order, so the store keeps one writer and the records are those of
a search in process. A worker that dies costs its tree a regrowth on a new worker (a tree is grown from its task's
seed, so it comes out the same)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

from agents.llm.base import LLMRecipe
from agents.types import LLM
from environments.base import TaskSpec

log = logging.getLogger(__name__)


class TreeWorker:
    """A Ray actor: a model and the environment's resources, growing one tree per call."""

    def __init__(self, recipe: LLMRecipe, config: Any) -> None:
        from agents.llm import make_llm
        from environments.base import get_entry

        options: dict[str, Any] = {"api_base": recipe.api_base} if recipe.api_base else {}
        if recipe.backend == "transformers":
            options["num_threads"] = 1  # one core per worker
        self.llm = make_llm(recipe.backend, recipe.model, adapter=recipe.adapter, **options)
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

    from agents.ray_runner import LocalCluster, connect

    recipe = llm.recipe()  # type: ignore[attr-defined]
    connected = connect(config.ray, LocalCluster(), config.ray_workers)
    worker_class = ray.remote(num_cpus=1, max_restarts=0)(TreeWorker)
    workers: list[Any] = []
    try:
        workers = [worker_class.remote(recipe, config) for _ in range(min(config.ray_workers, len(tasks)))]
        pending = list(range(len(tasks)))
        running: dict[Any, tuple[Any, int]] = {}
        done: dict[int, tuple[Any, float, int]] = {}
        attempts: Counter[int] = Counter()
        retried, emitted = 0, 0

        def submit(worker: Any) -> None:
            index = pending.pop(0)
            running[worker.grow.remote(tasks[index])] = (worker, index)

        for worker in workers:
            if pending:
                submit(worker)
        while emitted < len(tasks):
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1
            if emitted == len(tasks):
                break
            [ref], _ = ray.wait(list(running), num_returns=1)
            worker, index = running.pop(ref)
            try:
                tree, seconds, calls, pid = ray.get(ref)
                tree.stats["ray_worker_pid"] = pid
                done[index] = (tree, seconds, calls)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                attempts[index] += 1
                if attempts[index] > 3:
                    raise RuntimeError(f"{tasks[index].task_id}: its tree worker died 4 times; last: {exc}") from exc
                retried += 1
                log.warning("%s: its tree worker died (%s); growing it again on a new worker", tasks[index].task_id,
                            type(exc).__name__)  # fmt: skip
                workers.remove(worker)
                worker = worker_class.remote(recipe, config)
                workers.append(worker)
                pending.insert(0, index)
            if pending:
                submit(worker)
        if retried:
            log.warning("%d tree(s) were grown again after their worker died", retried)
    finally:
        for worker in workers:
            ray.kill(worker)
        if connected:
            ray.shutdown()
