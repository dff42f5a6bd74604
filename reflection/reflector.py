"""The Re-ReST reflector: turn a failed trajectory into a successful one using the environment's feedback.

A LangGraph loop over a batch of failures: `reflect` (one batched LLM call writes "Reflection: I should
have ..." for every open case, seeing the failed trial, its feedback and earlier reflections) -> `attempt`
(a fresh episode of the same task, from the same seed, played by the reflector model with its reflections
in the prompt and checked by the environment) -> again until the attempt succeeds or `rounds` are spent.

Each attempt is stored as a trajectory with `source=reflected`, `parent_id` = the failed trajectory and
`meta` holding the reflections and whether the environment confirmed success. The stored conversation
keeps the plain task observation: the reflection text is never part of it, so training on it teaches the
agent to succeed the first time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from agents.graph import PolicyConfig
from agents.runner import Game, play, start_trajectory, task_tools
from agents.store import Store
from agents.types import LLM, Messages, Source, Trajectory
from environments.base import EnvEntry, Environment, TaskSpec

log = logging.getLogger(__name__)

REFLECT_SYSTEM = (
    "You review a failed attempt at a task. Reply with one or two sentences that start with "
    '"Reflection: I should have" and say specifically what went wrong and what to do differently next time. '
    "Do not write code or commands."
)
BLIND_REFLECT_SYSTEM = (
    "You review your own attempt at a task; nobody has checked it yet. Reply with one or two sentences that start "
    'with "Reflection: I should have" and name a likely mistake in it and what to do differently next time. '
    "Do not write code or commands."
)
"""System prompt of a reflection without ground truth: no test result or environment feedback is shown."""
LESSONS_HEADER = "Lessons from your previous attempts at this task:"
REFLECTION_START = "Reflection: I should have"
"""The reflection's opening words, given to the model as the start of its reply."""


@dataclass(frozen=True)
class ReflectorConfig:
    """How the reflector repairs failures."""

    rounds: int = 2
    """Reflection rounds per failure; each round sees the reflections before it."""
    max_tokens: int = 96
    """Tokens for one reflection."""
    temperature: float = 0.0
    """Sampling temperature for reflections."""
    transcript_steps: int = 12
    """Most recent steps of the failed trial shown to the reflector."""
    batch_size: int = 8
    """Failures repaired together (one batched LLM call per turn)."""


@dataclass(frozen=True)
class Case:
    """One failure under repair."""

    failed: Trajectory
    """The trajectory the reflector sees next (the original failure, then its latest failed attempt)."""
    origin_id: str
    """The original failed trajectory (parent of every attempt)."""
    reflections: tuple[str, ...] = ()
    attempts: tuple[str, ...] = ()
    """Ids of the stored attempts, in order."""
    prompts: tuple[tuple[dict[str, str], ...], ...] = ()
    """The reflector's prompt for each reflection (for the reflector's own training set)."""
    success: bool = False
    done: bool = False


@dataclass(frozen=True)
class RepairResult:
    """What reflection made of one failure."""

    failed_id: str
    success: bool
    """The environment confirmed an attempt."""
    repaired_id: str | None
    """The confirmed attempt's trajectory id."""
    reflections: tuple[str, ...]
    attempts: tuple[str, ...]


class ReflectState(TypedDict):
    cases: list[Case]
    round: int


def feedback_of(traj: Trajectory) -> str:
    """What the environment said about the failure: the last step's feedback, else how the episode ended."""
    if not traj.steps:
        return "The attempt produced no action."
    last = traj.steps[-1]
    if last.feedback:
        return last.feedback
    return f"The task was not completed. The last observation was: {last.observation}"


def transcript(traj: Trajectory, max_steps: int) -> str:
    """The trial as text: what the agent did and what the environment answered (most recent steps)."""
    steps = traj.steps[-max_steps:]
    skipped = len(traj.steps) - len(steps)
    lines = [f"({skipped} earlier steps omitted)"] if skipped else []
    for s in steps:
        lines.append(f"Agent:\n{s.model_output.strip()}\nEnvironment:\n{s.observation.strip()}")
    return "\n\n".join(lines)


def _reflection_messages(
    system: str, task: str, trial: str, feedback: str | None, earlier: str, reflections: Sequence[str], ask: str
) -> Messages:
    """The reflector's conversation: task, trial, feedback (when there is any), earlier reflections, the request."""
    previous = "".join(f"\n- {r}" for r in reflections)
    user = (
        f"Task:\n{task}\n\nPrevious trial:\n{trial}"
        + (f"\n\nFeedback: {feedback}" if feedback is not None else "")
        + (f"\n\n{earlier}{previous}" if previous else "")
        + f"\n\n{ask}"
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": REFLECTION_START},
    ]


def reflection_prompt(case: Case, config: ReflectorConfig) -> Messages:
    """Re-ReST's reflection on a failure: the failed trial and what the environment said about it."""
    return _reflection_messages(
        REFLECT_SYSTEM, case.failed.initial_observation, transcript(case.failed, config.transcript_steps),
        feedback_of(case.failed), "Earlier reflections that did not help enough:", case.reflections,
        "Write the reflection.",
    )  # fmt: skip


def blind_reflection_prompt(task: str, answer: str, reflections: Sequence[str] = ()) -> Messages:
    """A reflection without ground truth (Re-ReST at inference): only the task and the agent's own last answer.

    No test result, feedback or success flag is shown, so it can run on inputs whose answers are unknown.
    """
    return _reflection_messages(
        BLIND_REFLECT_SYSTEM, task, f"Agent:\n{answer.strip()}", None, "Your earlier reflections:", reflections,
        "Reflect on possible mistakes in your solution. Write the reflection in one sentence, no code.",
    )  # fmt: skip


def clean_reflection(continuation: str, fallback: str = "read the task and the feedback more carefully.") -> str:
    """The reflection: its opening words plus the model's continuation up to the first blank line or code.

    An empty continuation becomes `fallback`.
    """
    body = continuation.split("\n\n")[0].split("```")[0].strip()
    if not body:
        body = fallback
    return f"{REFLECTION_START} {body}"


def with_lessons(observation: str, reflections: tuple[str, ...]) -> str:
    """The task's observation with the reflections appended, as the reflector's attempt sees it."""
    return observation + f"\n\n{LESSONS_HEADER}" + "".join(f"\n- {r}" for r in reflections)


def build_reflector_graph(
    llm: LLM,
    store: Store,
    entry: EnvEntry,
    tasks: dict[str, TaskSpec],
    make_env: Callable[[TaskSpec], Environment],
    run_id: str,
    policy: PolicyConfig,
    config: ReflectorConfig,
) -> Any:
    """Compile the reflect -> attempt loop for failures of `entry`'s environment."""

    def reflect(state: ReflectState) -> dict[str, Any]:
        open_cases = [c for c in state["cases"] if not c.done]
        prompts = [reflection_prompt(c, config) for c in open_cases]
        outs = llm.generate_batch(
            prompts,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            stop=["\n\n", "```"],
            seed=state["round"],
        )
        updated = {
            c.origin_id: replace(
                c,
                reflections=(*c.reflections, clean_reflection(o[0].text)),
                prompts=(*c.prompts, tuple(p)),
            )
            for c, o, p in zip(open_cases, outs, prompts, strict=True)
        }
        return {"cases": [updated.get(c.origin_id, c) for c in state["cases"]]}

    def attempt(state: ReflectState) -> dict[str, Any]:
        open_cases = [c for c in state["cases"] if not c.done]
        games: list[Game] = []
        ids: dict[str, str] = {}
        for c in open_cases:
            task = tasks[c.failed.task_id]
            env = make_env(task)
            traj = start_trajectory(
                store, env, entry, task, run_id, llm,
                seed=c.failed.seed,
                sample_index=c.failed.sample_index,
                source=Source.REFLECTED,
                parent_id=c.origin_id,
                meta={"reflections": list(c.reflections), "round": state["round"] + 1},
                prompt=c.failed.meta.get("prompt"),  # the prompt profile the agent played the failure with
            )  # fmt: skip
            prompt = traj.to_messages(open_ended=True)
            prompt[-1] = {"role": "user", "content": with_lessons(traj.initial_observation, c.reflections)}
            games.append(Game(env, traj.id, prompt, tools=task_tools(entry, task)))
            ids[c.origin_id] = traj.id
        play(llm, store, entry, games, policy)
        updated = {}
        for c in open_cases:
            traj = store.get_trajectory(ids[c.origin_id])
            confirmed = traj.success
            store.finish_trajectory(
                traj.id, meta={"confirmed": confirmed, "reflection_prompts": [list(p) for p in c.prompts]}
            )
            last_round = state["round"] + 1 >= config.rounds
            updated[c.origin_id] = replace(
                c,
                failed=traj if not confirmed else c.failed,
                attempts=(*c.attempts, traj.id),
                success=confirmed,
                done=confirmed or last_round,
            )
        return {"cases": [updated.get(c.origin_id, c) for c in state["cases"]], "round": state["round"] + 1}

    def route(state: ReflectState) -> str:
        return END if all(c.done for c in state["cases"]) else "reflect"

    graph = StateGraph(ReflectState)
    graph.add_node("reflect", reflect)
    graph.add_node("attempt", attempt)
    graph.add_edge(START, "reflect")
    graph.add_edge("reflect", "attempt")
    graph.add_conditional_edges("attempt", route, {"reflect": "reflect", END: END})
    return graph.compile()


def reflect_on_failures(
    llm: LLM,
    store: Store,
    entry: EnvEntry,
    failures: list[Trajectory],
    tasks: dict[str, TaskSpec],
    make_env: Callable[[TaskSpec], Environment],
    run_id: str,
    policy: PolicyConfig,
    config: ReflectorConfig | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[RepairResult]:
    """Repair `failures` (skipping those already repaired in `run_id`); returns one result per failure."""
    config = config or ReflectorConfig()
    done_before: dict[str, list[Trajectory]] = {}
    for t in store.trajectories(run_id, source=Source.REFLECTED, status="done"):
        if t.parent_id:
            done_before.setdefault(t.parent_id, []).append(t)
    results: dict[str, RepairResult] = {}
    todo: list[Trajectory] = []
    for f in failures:
        prior = done_before.get(f.id, [])
        confirmed = [t for t in prior if t.meta.get("confirmed")]
        if confirmed or len(prior) >= config.rounds:
            results[f.id] = RepairResult(
                f.id, bool(confirmed), confirmed[0].id if confirmed else None,
                tuple(prior[-1].meta.get("reflections", [])) if prior else (), tuple(t.id for t in prior),
            )  # fmt: skip
        else:
            todo.append(f)
    if on_progress:
        on_progress(len(results), len(failures))
    graph = build_reflector_graph(llm, store, entry, tasks, make_env, run_id, policy, config)
    for start in range(0, len(todo), config.batch_size):
        batch = todo[start : start + config.batch_size]
        state = graph.invoke(
            {"cases": [Case(failed=f, origin_id=f.id) for f in batch], "round": 0},
            config={"recursion_limit": 4 * config.rounds + 4},
        )
        for c in state["cases"]:
            results[c.origin_id] = RepairResult(
                c.origin_id, c.success, c.attempts[-1] if c.success else None, c.reflections, c.attempts
            )
        if on_progress:
            on_progress(len(results), len(failures))
    return [results[f.id] for f in failures]


__all__ = [
    "BLIND_REFLECT_SYSTEM",
    "LESSONS_HEADER",
    "ReflectorConfig",
    "RepairResult",
    "blind_reflection_prompt",
    "build_reflector_graph",
    "clean_reflection",
    "feedback_of",
    "reflect_on_failures",
    "reflection_prompt",
    "with_lessons",
]
