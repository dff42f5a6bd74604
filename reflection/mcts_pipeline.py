"""Search -> revisions over a task suite: what `kintsugi search` runs and what an Agent-R loop calls each iteration.

Per task: build the tree with MCTS, persist it, pair its paths, try each splice, store the verified revisions
(as `source=revised` trajectories) and the rejected ones (with the reason), and return the TRL records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.store import Store, new_id
from agents.types import LLM
from environments.base import EnvEntry, TaskSpec, get_entry
from reflection.mcts import MCTS, CountingLLM, MCTSConfig, Tree
from reflection.revision import Reviser, RevisionConfig, export_records, write_records
from reflection.tree_store import TreeStore


@dataclass(frozen=True)
class SearchConfig:
    """What `kintsugi search` does; stored with its run."""

    env: str = "household"
    """Registered environment."""
    suite: str | None = None
    """Task suite (None: the environment's default)."""
    split: str | None = "train"
    """Split of the suite."""
    limit: int | None = None
    """Use only the first N tasks."""
    seed: int = 0
    """Seed for environments and sampling."""
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    """How each tree is searched."""
    revision: RevisionConfig = field(default_factory=RevisionConfig)
    """How pairs become verified revisions."""
    parallel: int | None = None
    """Trees searched at once (None: 8 on a backend that takes concurrent requests, such as a vLLM server, so it
    batches the trees' turns; else 1). Each tree is revised and stored in task order as its search ends."""
    ray: str | None = None
    """Grow the trees on Ray (`auto`: a local cluster for the search, or HOST:PORT); revisions and the store stay
    here. None: in this process."""
    ray_workers: int = 2
    """Tree workers on Ray, each with its own model (rebuilt from the search model's recipe)."""


@dataclass(frozen=True)
class TaskReport:
    """One task's tree and what came of it."""

    task_id: str
    tree_id: str
    success: bool
    """The search reached the goal on some path."""
    nodes: int
    pairs: int
    verified: int
    rejected: list[str]
    """The reason of each rejected splice."""
    continuations: list[str]
    """How each verified splice continued (`good_path`, `mcts`, `expert`)."""
    llm_calls: int
    seconds: float


@dataclass
class SearchReport:
    """The outcome of a search run: per-task reports, totals, and the verified records (TRL formats)."""

    run_id: str
    store_path: Path
    tasks: list[TaskReport] = field(default_factory=list)
    sft: list[dict[str, Any]] = field(default_factory=list)
    dpo: list[dict[str, Any]] = field(default_factory=list)
    llm_calls: int = 0
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        n = len(self.tasks)
        verified = sum(t.verified for t in self.tasks)
        tried = verified + sum(len(t.rejected) for t in self.tasks)
        return {
            "run_id": self.run_id,
            "store": str(self.store_path),
            "trees": n,
            "tasks_solved_by_search": sum(t.success for t in self.tasks),
            "search_success_rate": sum(t.success for t in self.tasks) / n if n else 0.0,
            "pairs": sum(t.pairs for t in self.tasks),
            "verified_revisions": verified,
            "rejected_splices": tried - verified,
            "rejected_share": (tried - verified) / tried if tried else 0.0,
            "llm_calls": self.llm_calls,
            "llm_calls_per_verified_revision": self.llm_calls / verified if verified else None,
            "tasks_per_minute": 60 * n / self.seconds if self.seconds else 0.0,
            "seconds": round(self.seconds, 2),
            "sft_records": len(self.sft),
            "dpo_records": len(self.dpo),
            "files": self.files,
            "per_task": [asdict(t) for t in self.tasks],
        }


def search_and_revise(
    llm: LLM,
    store: Store,
    config: SearchConfig,
    *,
    out_dir: Path | None = None,
    resources: dict[str, Any] | None = None,
    on_task: Callable[[TaskReport], None] | None = None,
    run_id: str | None = None,
) -> SearchReport:
    """Search every task of `config`, revise each tree, store everything; writes the JSONL records into `out_dir`.
    `resources`: shared resources for the episodes (None: the environment's own, made here and closed after).
    `run_id`: an interrupted search run (`new_search_run`) to finish: tasks whose tree was revised to the end are
    kept as they are, the rest are searched (a tree comes out the same: it grows from its task's seed)."""
    entry = get_entry(config.env)
    tasks = entry.load_tasks(config.suite, config.split, config.limit)
    owned = entry.resources() if resources is None else {}  # the environment's own (a sandbox), closed at the end
    try:
        run_id = run_id or new_search_run(store, llm, config)
        return _search_tasks(llm, store, config, entry, tasks, resources or owned, out_dir, on_task, run_id)
    finally:
        for resource in owned.values():
            resource.close()


def new_search_run(store: Store, llm: LLM, config: SearchConfig) -> str:
    """A search run's id, created before any tree so that a resume (`search_and_revise(run_id=...)`) can find it."""
    return store.create_run(_jsonable(asdict(config)), model=llm.model_id, adapter=llm.adapter, kind="search")


EXECUTION_OPTIONS = ("parallel", "ray", "ray_workers")
"""Where a search's trees grow, not what they are: a resume may change them."""


def options_differing(stored: dict[str, Any], config: SearchConfig) -> list[str]:
    """Options (dotted, e.g. `mcts.max_depth`) in which `config` differs from a search run's stored config."""

    def flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value}
        return out

    given, kept = flat(_jsonable(asdict(config))), flat(stored)
    return sorted(k for k, v in given.items() if k not in EXECUTION_OPTIONS and kept.get(k) != v)


def _search_tasks(
    llm: LLM,
    store: Store,
    config: SearchConfig,
    entry: EnvEntry,
    tasks: list[TaskSpec],
    resources: dict[str, Any],
    out_dir: Path | None,
    on_task: Callable[[TaskReport], None] | None,
    run_id: str,
) -> SearchReport:
    counter = CountingLLM(llm)
    trees = TreeStore(store)
    MCTS(counter, entry, config.mcts)  # refuses a config it cannot search with (an expert rollout, no expert)
    horizon = search_horizon(config)
    report = SearchReport(run_id=run_id, store_path=store.path)
    started = time.perf_counter()
    finished = {task_id: TaskReport(**r) for task_id, r in trees.resume(run_id).items()}
    todo = [task for task in tasks if task.task_id not in finished]
    earlier = [finished[t.task_id] for t in tasks if t.task_id in finished]

    def make_env(task: TaskSpec) -> Any:
        return entry.make(task, max_steps=horizon, max_attempts=horizon, **resources)

    search_total = sum(t.llm_calls for t in earlier)
    with ExitStack() as stack:
        # searches run ahead (threads, or Ray workers); this thread revises and stores each tree in task order
        if config.ray:
            from reflection.ray_search import grow_on_ray

            grown = grow_on_ray(llm, config, todo)
        else:
            workers = config.parallel or (8 if counter.concurrent else 1)
            pool = ThreadPoolExecutor(max_workers=max(1, workers))
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)  # an interrupt grows no further tree
            grown = pool.map(lambda task: grow_tree(llm, entry, config, task, resources), todo)
        for task, (tree, search_seconds, search_calls) in zip(todo, grown, strict=True):
            search_total += search_calls
            t0, calls0 = time.perf_counter(), counter.calls
            trees.save_tree(tree, run_id)
            reviser = Reviser(counter, entry, lambda task=task: make_env(task), config.revision, config.mcts)
            outcomes = reviser.revise(tree, store=store, run_id=run_id, calls=lambda: counter.calls)
            verified = [o.row for o in outcomes if o.row.status == "verified"]
            task_report = TaskReport(
                task_id=task.task_id,
                tree_id=tree.id,
                success=tree.success,
                nodes=len(tree.nodes),
                pairs=len(outcomes),
                verified=len(verified),
                rejected=[o.row.reason for o in outcomes if o.row.status != "verified"],
                continuations=[r.continuation for r in verified],
                llm_calls=search_calls + counter.calls - calls0,
                seconds=round(search_seconds + time.perf_counter() - t0, 2),
            )
            trees.mark_finished(tree.id, asdict(task_report))
            report.tasks.append(task_report)
            if on_task:
                on_task(task_report)
    order = {t.task_id: i for i, t in enumerate(tasks)}
    report.tasks = sorted([*earlier, *report.tasks], key=lambda t: order[t.task_id])
    report.seconds = time.perf_counter() - started + sum(t.seconds for t in earlier)
    report.llm_calls = search_total + counter.calls
    report.sft, report.dpo = export_records(store, run_id)
    if out_dir is not None:
        report.files = {k: str(v) for k, v in write_records(store, out_dir, run_id).items()}
    store.finish_run(run_id, {k: v for k, v in report.summary().items() if k != "per_task"})
    return report


def search_horizon(config: SearchConfig) -> int:
    """Steps an episode of the search may take: paths, rollouts and re-searched continuations all fit."""
    return 4 * config.mcts.max_depth + config.revision.max_continuation + 2


def grow_tree(
    llm: LLM, entry: EnvEntry, config: SearchConfig, task: TaskSpec, resources: dict[str, Any]
) -> tuple[Tree, float, int]:
    """One task's tree (the search only: LLM calls and env steps, nothing stored), its seconds and its LLM calls;
    thread-safe, and what a Ray tree worker runs."""
    from agents.runner import trajectory_seed

    t0 = time.perf_counter()
    own = CountingLLM(llm)  # this tree's calls, whatever other threads do meanwhile
    search = MCTS(own, entry, config.mcts)
    horizon = search_horizon(config)
    env = entry.make(task, max_steps=horizon, max_attempts=horizon, **resources)
    try:
        tree = search.new_tree(new_id("tree"), task, env, trajectory_seed(config.seed, task.task_id, 0))
        search.search(tree, env)
    finally:
        env.close()
    return tree, time.perf_counter() - t0, own.calls


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
