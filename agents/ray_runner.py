"""Episodes on a Ray cluster: workers play them, the driver stores them (the SQLite store keeps one writer).

`kintsugi run --ray auto` starts a local cluster for the run (bound to 127.0.0.1, no dashboard, a bounded object
store) and stops it afterwards; `--ray HOST:PORT` joins a running cluster. Each worker is a Ray actor that holds its
own LLM backend (the embedded model loaded once per actor, or a client of a shared OpenAI-compatible server with
`--backend litellm --api-base URL`, which is what a GPU cluster does with a vLLM server) and makes the environment's
shared resources (a sandbox) on the node it runs on. A worker plays one episode at a time and streams it back as it
goes (a Ray streaming generator: the episode's start, each step, its end); the driver commits each part as it
arrives, so the store (and the viewer) shows a Ray episode step by step as it shows an in-process one. A worker
that dies mid-episode costs that episode only: what of it was stored is marked `abandoned` (never counted), a new
worker replaces the dead one and plays it again from its seed, and the run's metrics say how many episodes were
retried. Finished episodes are in the store, so `--resume` (with or without Ray) plays only the rest.

Greedy episodes equal the in-process runner's (`tests/test_ray_runner.py`); sampled ones are seeded per episode
(`trajectory_seed`), so they repeat from one Ray run to the next but differ from the in-process runner's, whose
sampling seed follows its batches.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, Generic, TypeVar

from agents.metrics import summarize
from agents.store import Store
from agents.types import LLM, Source, Step
from environments.base import EnvEntry, TaskSpec

log = logging.getLogger(__name__)

Job = TypeVar("Job")

AUTO = "auto"
"""`RunConfig.ray` value that starts a local cluster for the run."""


@dataclass(frozen=True)
class LocalCluster:
    """How `auto` starts its cluster."""

    object_store_mb: int = 256
    """Object store memory (episodes are small; the default would take a third of the machine's RAM)."""
    host: str = "127.0.0.1"
    """Address the cluster binds to (nothing listens beyond this machine)."""


@dataclass(frozen=True)
class EpisodeStart:
    """The first part a worker streams back: the episode's reset."""

    initial_observation: str
    worker_pid: int


@dataclass(frozen=True)
class EpisodeEnd:
    """The last part a worker streams back (its steps came between)."""

    ended: str | None
    """Why it ended early (`context_full`), or None."""
    steps: int
    worker_pid: int


RETRIED = object()
"""What `ActorPool.stream` yields for a job whose actor died (the job starts again on a new actor)."""


class _EnvWorker:
    """What every Ray actor that plays episodes holds (the run's config, the environment's resources) and how it
    streams an episode back; subclasses say who chooses the actions (`_steps`)."""

    def __init__(self, config_data: dict[str, Any]) -> None:
        from agents.runner import RunConfig
        from environments.base import get_entry

        self.config = RunConfig.from_dict(config_data)
        self.entry = get_entry(self.config.env)
        self.resources = self.entry.resources()

    def pid(self) -> int:
        return os.getpid()

    def play(self, task: TaskSpec, seed: int) -> Iterator[EpisodeStart | Step | EpisodeEnd]:
        """The episode as it is played: its start, each step as soon as it is taken, its end (call it with
        `.options(num_returns="streaming")`)."""
        from agents.runner import make_env

        env = make_env(self.entry, task, self.config, self.resources)
        ended: list[str] = []
        played = 0
        try:
            obs, _ = env.reset(seed=seed)
            yield EpisodeStart(obs, os.getpid())
            for step in self._steps(env, task, obs, seed, ended):
                played += 1
                yield step
        finally:
            env.close()
        yield EpisodeEnd(ended[0] if ended else None, played, os.getpid())

    def _steps(self, env: Any, task: TaskSpec, obs: str, seed: int, ended: list[str]) -> Iterator[Step]:
        """The steps of the episode `env` was reset to (`obs`); why it ended early goes into `ended`."""
        raise NotImplementedError

    def close(self) -> None:
        for resource in self.resources.values():
            resource.close()


class EpisodeWorker(_EnvWorker):
    """A Ray actor: an LLM backend and the environment's resources, playing one episode per call."""

    def __init__(self, config_data: dict[str, Any], llm_options: dict[str, Any]) -> None:
        from agents.llm import make_llm

        super().__init__(config_data)
        self.llm = make_llm(self.config.backend, self.config.model, adapter=self.config.adapter, **llm_options)

    def _steps(self, env: Any, task: TaskSpec, obs: str, seed: int, ended: list[str]) -> Iterator[Step]:
        from agents.graph import Episode, build_graph, stream_graph
        from agents.runner import policy_for, task_tools

        steps: deque[Step] = deque()
        profile = self.entry.prompt(self.config.prompt)
        messages = [
            {"role": "system", "content": profile.system},
            *[dict(m) for m in profile.few_shot],
            {"role": "user", "content": obs},
        ]
        policy = replace(policy_for(self.entry, self.config), seed=seed)
        graph = build_graph(
            self.llm, {"episode": env}, self.entry.parse_action, policy, lambda _e, step: steps.append(step),
            complete_reply=self.entry.complete_reply, on_context_full=lambda _e: ended.append("context_full"),
        )  # fmt: skip
        episode = Episode(trajectory_id="episode", messages=messages, tools=task_tools(self.entry, task))
        for _ in stream_graph(graph, [episode], policy.max_steps):
            while steps:  # what the super-step just played
                yield steps.popleft()
        yield from steps  # a last node whose update LangGraph did not stream


class ExpertWorker(_EnvWorker):
    """A Ray actor: the environment's resources, playing its expert on one episode per call (a warm start's demos)."""

    def __init__(self, config_data: dict[str, Any], _llm_options: dict[str, Any]) -> None:
        super().__init__(config_data)

    def _steps(self, env: Any, task: TaskSpec, obs: str, seed: int, ended: list[str]) -> Iterator[Step]:
        from agents.runner import expert_steps

        return expert_steps(self.entry, env)


def connect(address: str, cluster: LocalCluster, workers: int) -> bool:
    """Connect to the cluster at `address` (or start a local one for `auto`); True when this call connected, and so
    must disconnect after (`ray.shutdown()`: it stops a cluster `auto` started and leaves a joined one running)."""
    import ray

    if ray.is_initialized():
        return False
    if address == AUTO:  # "local": a new cluster of its own, even where another one runs on this machine
        ray.init(
            address="local", num_cpus=workers, include_dashboard=False,
            object_store_memory=cluster.object_store_mb * 2**20, _node_ip_address=cluster.host, log_to_driver=False,
            configure_logging=False,
        )  # fmt: skip
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return True


class ActorPool(Generic[Job]):
    """Up to `size` Ray actors of one class, each given one job at a time. A job whose actor dies (a crash, a kill)
    is given again to a new actor (at most `attempts` tries in all), so a lost worker costs only its job's replay."""

    def __init__(self, actor_class: Any, args: tuple[Any, ...], size: int, *, attempts: int = 4) -> None:
        self.actor_class, self.args, self.size, self.attempts = actor_class, args, size, attempts
        self.actors: list[Any] = []
        self.retried = 0
        """Jobs given again after their actor died."""

    def results(
        self, jobs: list[Job], call: Callable[[Any, Job], Any], describe: Callable[[Job], str]
    ) -> Iterator[tuple[Job, Any]]:
        """(job, result) as each finishes; `call(actor, job)` starts a job (an ObjectRef), `describe` names it."""
        for job, item in self._drive(jobs, call, describe, streaming=False):
            if item is not RETRIED:
                yield job, item

    def stream(
        self, jobs: list[Job], call: Callable[[Any, Job], Any], describe: Callable[[Job], str]
    ) -> Iterator[tuple[Job, Any]]:
        """(job, item) for each item a job streams back, as it comes; `call(actor, job)` starts a job as a Ray
        streaming generator (`.options(num_returns="streaming")`). A job whose actor died yields (job, RETRIED)
        before it streams again from its start."""
        yield from self._drive(jobs, call, describe, streaming=True)

    def _drive(
        self, jobs: list[Job], call: Callable[[Any, Job], Any], describe: Callable[[Job], str], *, streaming: bool
    ) -> Iterator[tuple[Job, Any]]:
        import ray

        waiting = deque(range(len(jobs)))
        tries: dict[int, int] = {}
        running: dict[Any, tuple[Any, int]] = {}

        def submit(actor: Any) -> None:
            index = waiting.popleft()
            running[call(actor, jobs[index])] = (actor, index)

        while len(self.actors) < min(self.size, len(jobs)):
            self.actors.append(self.actor_class.remote(*self.args))
        for actor in self.actors:
            if waiting:
                submit(actor)
        while running:
            [ready], _ = ray.wait(list(running), num_returns=1)
            actor, index = running[ready]
            try:
                if streaming:
                    try:
                        value = ray.get(next(ready))
                    except StopIteration:  # the job streamed its last item
                        del running[ready]
                        if waiting:
                            submit(actor)
                        continue
                else:
                    del running[ready]
                    value = ray.get(ready)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                running.pop(ready, None)
                tries[index] = tries.get(index, 1) + 1
                if tries[index] > self.attempts:
                    raise RuntimeError(
                        f"{describe(jobs[index])}: its worker died {self.attempts} times; last: {exc}"
                    ) from exc
                self.retried += 1
                log.warning("%s: its worker died (%s); given again to a new worker", describe(jobs[index]),
                            type(exc).__name__)  # fmt: skip
                self.actors.remove(actor)
                actor = self.actor_class.remote(*self.args)
                self.actors.append(actor)
                waiting.appendleft(index)
                submit(actor)
                yield jobs[index], RETRIED
                continue
            if not streaming and waiting:  # the actor's next job starts before the caller handles this one's result
                submit(actor)
            yield jobs[index], value

    def close(self) -> None:
        """Kill every actor (a job still running is lost)."""
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors.clear()


def run_on_ray(
    llm: LLM | None,
    store: Store,
    config: Any,
    entry: EnvEntry,
    tasks: list[TaskSpec],
    *,
    run_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cluster: LocalCluster | None = None,
    llm_options: dict[str, Any] | None = None,
    on_result: Callable[[EpisodeEnd], None] | None = None,
    on_step: Callable[[str, Step], None] | None = None,
    expert: bool = False,
) -> Any:
    """`run_agent` with the episodes on Ray (`config.ray`, `config.ray_workers`); returns its `RunResult`.

    `llm` (may be None) only names the model in the stored records; each worker builds its own from the config.
    `expert`: the environment's expert plays instead (`source=expert`, every episode with the run's seed, as a warm
    start's demos are played in process), and the workers load no model.
    `on_step(trajectory_id, step)` sees each step once it is committed and `on_result` each episode's end once its
    trajectory is finished (tests kill a worker from it).
    """
    import ray

    from agents.runner import RunResult, new_trajectory, trajectory_seed

    if config.ray_workers < 1:
        raise ValueError(f"ray_workers must be at least 1, got {config.ray_workers}")
    namer = None if expert else llm if llm is not None else _Named(config.model, config.adapter)
    model = f"expert:{entry.name}" if namer is None else namer.model_id
    if run_id is None:
        run_id = store.create_run(asdict(config), model=model, adapter=None if namer is None else namer.adapter)
    done: set[tuple[str, int]] = set()
    for traj in store.trajectories(run_id):
        if traj.status == "done":
            done.add((traj.task_id, traj.sample_index))
        elif traj.status == "running":  # cut short by an earlier, interrupted run: played again whole
            store.finish_trajectory(traj.id, status="abandoned", meta={"abandoned": "replayed on Ray"})
    jobs = [(t, k) for t in tasks for k in range(config.samples) if (t.task_id, k) not in done]
    total, finished = len(tasks) * config.samples, len(done)
    if on_progress:
        on_progress(finished, total)
    options = dict(llm_options or {})
    if config.api_base:
        options.setdefault("api_base", config.api_base)
    if config.backend == "transformers":
        options.setdefault("num_threads", 1)  # one core per worker: threads beyond it only contend
    config_data = asdict(config)
    connected = connect(config.ray, cluster or LocalCluster(), config.ray_workers)
    worker_class = ExpertWorker if expert else EpisodeWorker
    pool = ActorPool(ray.remote(num_cpus=1, max_restarts=0)(worker_class), (config_data, options), config.ray_workers)
    writing: dict[tuple[str, int], str] = {}
    """(task, sample) -> the trajectory its worker is streaming into."""
    try:

        def play(worker: Any, job: tuple[TaskSpec, int]) -> Any:
            task, k = job
            return worker.play.options(num_returns="streaming").remote(task, seed_of(task, k))

        def seed_of(task: TaskSpec, k: int) -> int:
            return config.seed if expert else trajectory_seed(config.seed, task.task_id, k)

        for (task, k), item in pool.stream(jobs, play, lambda job: f"{job[0].task_id} sample {job[1]}"):
            key = (task.task_id, k)
            if item is RETRIED:
                if key in writing:
                    store.finish_trajectory(writing.pop(key), status="abandoned",
                                            meta={"abandoned": "its Ray worker died; played again"})  # fmt: skip
            elif isinstance(item, EpisodeStart):
                traj = new_trajectory(
                    entry, task, run_id, namer, item.initial_observation, seed=seed_of(task, k), sample_index=k,
                    source=Source.EXPERT if expert else Source.SAMPLED, prompt=config.prompt,
                    meta={"ray_worker_pid": item.worker_pid},
                )  # fmt: skip
                store.start_trajectory(traj)
                writing[key] = traj.id
            elif isinstance(item, EpisodeEnd):
                meta = {"ended": item.ended, "steps": item.steps} if item.ended else None
                store.finish_trajectory(writing.pop(key), meta=meta)
                finished += 1
                if on_progress:
                    on_progress(finished, total)
                if on_result:
                    on_result(item)
            else:
                store.add_step(writing[key], item)
                if on_step:
                    on_step(writing[key], item)
    finally:
        pool.close()
        if connected:
            ray.shutdown()
    metrics = summarize(store.trajectories(run_id, status="done"))
    metrics["model"] = getattr(namer, "identity", model)
    metrics["ray"] = {"workers": config.ray_workers, "episodes_retried": pool.retried}
    store.finish_run(run_id, metrics)
    return RunResult(run_id=run_id, store_path=store.path, metrics=metrics)


@dataclass(frozen=True)
class _Named:
    """What the stored records say about the model when the driver holds none."""

    model_id: str
    adapter: str | None

    @property
    def identity(self) -> str:
        return f"{self.model_id}+{self.adapter}" if self.adapter else self.model_id
