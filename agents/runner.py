"""Running an agent over a task suite: K samples per task, every step stored, resumable after a kill."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from agents.graph import Episode, PolicyConfig, build_graph, run_graph
from agents.metrics import summarize
from agents.store import Store, new_id
from agents.types import LLM, Source, Step, Trajectory
from environments.base import EnvEntry, Environment, TaskSpec, get_entry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """What `kintsugi run` does; stored with the run so that `--resume` repeats it exactly."""

    env: str = "code"
    """Registered environment (`kintsugi envs` lists them)."""
    suite: str | None = None
    """Task suite: a built-in name or a HumanEval-format file (None: the environment's default)."""
    split: str | None = None
    """Split of the suite (None: all tasks)."""
    samples: int = 1
    """Trajectories sampled per task (K of pass@k)."""
    max_attempts: int = 3
    """Solutions the agent may submit per code task."""
    max_steps: int | None = None
    """Steps per episode (None: the environment's default; one per attempt where an episode is attempts)."""
    temperature: float | None = None
    """Sampling temperature (None: 0 for one sample, 0.8 for several)."""
    max_tokens: int | None = None
    """Tokens per reply (None: the environment's default)."""
    limit: int | None = None
    """Use only the first N tasks."""
    seed: int = 0
    """Seed for environments and sampling."""
    batch_size: int = 8
    """Episodes advanced together: one batched call per turn in process, or episodes in flight on a server."""
    backend: str = "transformers"
    """LLM backend."""
    model: str = "smollm2"
    """Model name for the backend."""
    adapter: str | None = None
    """LoRA adapter for the model."""
    api_base: str | None = None
    """Server URL of the litellm backend (an OpenAI-compatible server, e.g. vLLM's)."""
    prompt: str | None = None
    """The environment's prompt profile (None: its default; `compact` after a warm start)."""
    ray: str | None = None
    """Play the episodes on a Ray cluster: `auto` (a local one started for the run) or a cluster's address; None:
    in this process (`agents.ray_runner`)."""
    ray_workers: int = 2
    """Episode workers on the Ray cluster, each with its own model (or client of a shared server)."""

    def resolved_max_steps(self) -> int:
        if self.max_steps is not None:
            return self.max_steps
        from environments.base import get_entry

        return get_entry(self.env).resolved_max_steps(self.max_attempts)

    def resolved_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.8

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run: its id, where it is stored, and its metrics."""

    run_id: str
    store_path: Path
    metrics: dict[str, Any]


def trajectory_seed(seed: int, task_id: str, sample_index: int) -> int:
    return zlib.crc32(f"{seed}:{task_id}:{sample_index}".encode()) & 0x7FFFFFFF


class ReplayMismatch(RuntimeError):
    """Replaying stored actions did not reproduce the stored observations."""


def make_env(entry: EnvEntry, task: TaskSpec, config: RunConfig, resources: dict[str, Any]) -> Environment:
    return entry.make(task, max_attempts=config.max_attempts, max_steps=config.resolved_max_steps(), **resources)


def replay(env: Environment, traj: Trajectory) -> None:
    """Put `env` into the state at the end of `traj` by resetting and re-applying its actions."""
    obs, _ = env.reset(seed=traj.seed)
    if obs != traj.initial_observation:
        raise ReplayMismatch(f"trajectory {traj.id}: the reset observation differs from the stored one")
    for step in traj.steps:
        obs, *_ = env.step(step.action)
        if obs != step.observation:
            raise ReplayMismatch(f"trajectory {traj.id}: step {step.index} observed differently on replay")


@dataclass(frozen=True)
class Game:
    """An episode ready to be played: its environment (reset or replayed), stored trajectory and prompt."""

    env: Environment
    trajectory_id: str
    messages: list
    """The conversation the policy continues (system, few-shot, observations so far)."""
    steps: int = 0
    """Steps already taken (when resuming)."""
    tools: tuple[dict[str, Any], ...] = ()
    """The task's tools, offered to the model natively (`EnvEntry.tool_specs`)."""


def play(
    llm: LLM,
    store: Store,
    entry: EnvEntry,
    games: list[Game],
    policy: PolicyConfig,
    *,
    on_done: Callable[[str], None] | None = None,
    lock: threading.Lock | None = None,
) -> None:
    """Play `games` together through the agent graph; every step is stored as it happens, then envs close.

    `lock` serialises the store writes (and `on_done`) when several threads play at once.
    """

    def on_step(ep: Episode, step: Step) -> None:
        with lock or nullcontext():
            store.add_step(ep.trajectory_id, step)
            if step.terminated or step.truncated or step.index + 1 >= policy.max_steps:
                store.finish_trajectory(ep.trajectory_id)
                if on_done:
                    on_done(ep.trajectory_id)

    def on_context_full(ep: Episode) -> None:
        log.info("%s: the conversation no longer fits the model's context after %d steps", ep.trajectory_id, ep.steps)
        with lock or nullcontext():
            store.finish_trajectory(ep.trajectory_id, meta={"ended": "context_full", "steps": ep.steps})
            if on_done:
                on_done(ep.trajectory_id)

    envs = {g.trajectory_id: g.env for g in games}
    episodes = [
        Episode(trajectory_id=g.trajectory_id, messages=list(g.messages), steps=g.steps, tools=g.tools) for g in games
    ]
    try:
        graph = build_graph(
            llm, envs, entry.parse_action, policy, on_step, complete_reply=entry.complete_reply,
            on_context_full=on_context_full,
        )  # fmt: skip
        run_graph(graph, episodes, policy.max_steps, first_turn=min(g.steps for g in games))
    finally:
        for env in envs.values():
            env.close()


def task_tools(entry: EnvEntry, task: TaskSpec) -> tuple[dict[str, Any], ...]:
    """The tools the agent offers the model natively on `task` (none where the environment has no tools)."""
    return tuple(entry.tool_specs(task)) if entry.tool_specs else ()


def policy_for(entry: EnvEntry, config: RunConfig) -> PolicyConfig:
    """The sampling policy a run config asks for in `entry`'s environment."""
    return PolicyConfig(
        temperature=config.resolved_temperature(),
        max_tokens=config.max_tokens or entry.max_tokens,
        stop=entry.stop,
        max_steps=config.resolved_max_steps(),
        seed=config.seed,
    )


def run_agent(
    llm: LLM | None,
    store: Store,
    config: RunConfig,
    *,
    run_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    resources: dict[str, Any] | None = None,
) -> RunResult:
    """Run (or, given `run_id`, resume) `config`; returns the run's metrics over all its trajectories. `llm` may be
    None with `config.ray` (the workers hold the models).

    `on_progress(done, total)` is called as episodes finish. `resources` go to the environment factory
    (e.g. `sandbox=` for the code env).
    """
    entry = get_entry(config.env)
    tasks = entry.load_tasks(config.suite, config.split, config.limit)
    if config.ray:
        from agents.ray_runner import run_on_ray

        return run_on_ray(llm, store, config, entry, tasks, run_id=run_id, on_progress=on_progress)
    if llm is None:
        raise ValueError("run_agent needs an llm unless the run plays on Ray")
    owned = {} if resources else entry.resources()
    try:
        return _run_agent(llm, store, config, entry, tasks, run_id, on_progress, {**owned, **(resources or {})})
    finally:
        for resource in owned.values():
            resource.close()


def _run_agent(
    llm: LLM,
    store: Store,
    config: RunConfig,
    entry: EnvEntry,
    tasks: list[TaskSpec],
    run_id: str | None,
    on_progress: Callable[[int, int], None] | None,
    resources: dict[str, Any],
) -> RunResult:
    identity = getattr(llm, "identity", llm.model_id)
    if run_id is None:
        run_id = store.create_run(asdict(config), model=llm.model_id, adapter=llm.adapter)
    existing: dict[tuple[str, int], Trajectory] = {}
    for traj in store.trajectories(run_id):
        if traj.status in ("done", "running"):
            existing[(traj.task_id, traj.sample_index)] = traj
    jobs = [(task, k) for task in tasks for k in range(config.samples)]
    total = len(jobs)
    done_count = sum(1 for t, k in jobs if existing.get((t.task_id, k)) and existing[(t.task_id, k)].status == "done")
    if on_progress:
        on_progress(done_count, total)
    pending = [
        (t, k) for t, k in jobs if not (existing.get((t.task_id, k)) and existing[(t.task_id, k)].status == "done")
    ]
    policy = policy_for(entry, config)
    # An episode's sampling seed follows its place in the run's jobs, not in what is left to play, so a resumed run
    # samples what the uninterrupted one would have (one episode at a time, or each on its own on a server).
    place = {(t.task_id, k): i for i, (t, k) in enumerate(jobs)}

    def on_done(_: str) -> None:
        nonlocal done_count
        done_count += 1
        if on_progress:
            on_progress(done_count, total)

    def game(task: TaskSpec, k: int) -> Game:
        env = make_env(entry, task, config, resources)
        traj = _resume_or_start(store, env, entry, task, k, existing.get((task.task_id, k)), run_id, config, llm)
        return Game(env, traj.id, traj.to_messages(open_ended=True), len(traj.steps), task_tools(entry, task))

    if getattr(llm, "concurrent", False) and len(pending) > 1:
        # A server batches requests as they come: every episode advances on its own, `batch_size` in flight, and a
        # finished one is replaced at once (no lock-step turns waiting for the slowest reply).
        lock = threading.Lock()

        def one(index: int, task: TaskSpec, k: int) -> None:  # index: the job's place in the run, not in `pending`
            with lock:
                g = game(task, k)
            play(llm, store, entry, [g], replace(policy, seed=config.seed + 7919 * index), on_done=on_done, lock=lock)

        with ThreadPoolExecutor(max_workers=config.batch_size) as pool:
            for future in [pool.submit(one, place[(task.task_id, k)], task, k) for task, k in pending]:
                future.result()
    else:
        for start in range(0, len(pending), config.batch_size):
            games = [game(task, k) for task, k in pending[start : start + config.batch_size]]
            first = place[(pending[start][0].task_id, pending[start][1])]
            play(llm, store, entry, games, replace(policy, seed=config.seed + 7919 * first), on_done=on_done)
    finals = store.trajectories(run_id, status="done")
    metrics = summarize(finals)
    metrics["model"] = identity
    store.finish_run(run_id, metrics)
    return RunResult(run_id=run_id, store_path=store.path, metrics=metrics)


def _resume_or_start(
    store: Store,
    env: Environment,
    entry: EnvEntry,
    task: TaskSpec,
    sample_index: int,
    prior: Trajectory | None,
    run_id: str,
    config: RunConfig,
    llm: LLM,
) -> Trajectory:
    """The stored trajectory of this sample, replayed into `env` when it was cut short, else a new one."""
    if prior is not None and prior.status == "running":
        try:
            replay(env, prior)
            log.info("resuming %s at step %d", prior.id, len(prior.steps))
            return prior
        except ReplayMismatch as exc:
            log.warning("%s; keeping it as abandoned and starting the sample again", exc)
            store.finish_trajectory(prior.id, status="abandoned", meta={"abandoned": str(exc)})
    seed = trajectory_seed(config.seed, task.task_id, sample_index)
    return start_trajectory(
        store, env, entry, task, run_id, llm, seed=seed, sample_index=sample_index, prompt=config.prompt
    )


def expert_steps(entry: EnvEntry, env: Environment) -> Iterator[Step]:
    """The environment's expert playing `env` (already reset) to the end, one stored-form step at a time."""
    if entry.expert is None:
        raise ValueError(f"the {entry.name} environment has no expert")
    for index, reply in enumerate(entry.expert(env)):
        action = entry.parse_action(reply)
        start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        yield Step(
            index=index, model_output=reply, action=action, observation=obs, reward=float(reward),
            terminated=bool(terminated), truncated=bool(truncated), feedback=info.get("feedback"),
            env_seconds=time.perf_counter() - start,
            info={k: v for k, v in info.items() if k not in ("feedback", "admissible_actions")},
        )  # fmt: skip
        if terminated or truncated:
            return


def start_trajectory(
    store: Store,
    env: Environment,
    entry: EnvEntry,
    task: TaskSpec,
    run_id: str,
    llm: LLM | None,
    *,
    seed: int | None,
    sample_index: int = 0,
    source: Source = Source.SAMPLED,
    parent_id: str | None = None,
    meta: dict[str, Any] | None = None,
    prompt: str | None = None,
) -> Trajectory:
    """Reset `env` with `seed` and record a new trajectory for it (no steps yet).

    `llm` is the agent that will play it (None: the environment's expert); `prompt` names the prompt profile.
    """
    obs, _ = env.reset(seed=seed)
    traj = new_trajectory(
        entry, task, run_id, llm, obs, seed=seed, sample_index=sample_index, source=source, parent_id=parent_id,
        meta=meta, prompt=prompt,
    )  # fmt: skip
    return store.start_trajectory(traj)


def new_trajectory(
    entry: EnvEntry,
    task: TaskSpec,
    run_id: str,
    llm: LLM | None,
    initial_observation: str,
    *,
    seed: int | None,
    sample_index: int = 0,
    source: Source = Source.SAMPLED,
    parent_id: str | None = None,
    meta: dict[str, Any] | None = None,
    prompt: str | None = None,
) -> Trajectory:
    """The record of an episode of `task` that opened with `initial_observation` (no steps yet, not stored)."""
    profile = entry.prompt(prompt)
    model, adapter = (llm.model_id, llm.adapter) if llm is not None else (f"expert:{entry.name}", None)
    identity = getattr(llm, "identity", model)
    return Trajectory(
        id=new_id("traj"),
        run_id=run_id,
        task_id=task.task_id,
        env=entry.name,
        system_prompt=profile.system,
        context=tuple(profile.few_shot),
        initial_observation=initial_observation,
        sample_index=sample_index,
        seed=seed,
        source=source,
        parent_id=parent_id,
        model=model,
        adapter=adapter,
        meta={
            "identity": identity,
            **({"prompt": prompt} if prompt else {}),
            **({"tools": list(tools)} if (tools := task_tools(entry, task)) else {}),
            **(meta or {}),
        },
    )
