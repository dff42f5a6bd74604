"""`ToolsEnv`: one tools task behind the gymnasium-style text contract."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from agents.tool_calls import tools_block
from environments.base import TaskSpec
from environments.tools.calls import Answer, CallError, ToolCall, parse_reply
from environments.tools.judge import answer_differences, world_differences
from environments.tools.schema import ToolError
from environments.tools.tools import TOOLS, execute
from environments.tools.world import World, build_world

log = logging.getLogger(__name__)

FINISHED = "The task is finished."
"""The observation after the final answer (and after any step past it)."""
MAX_FEEDBACK = 2
"""Differences named in the feedback of a lost episode."""


@dataclass(frozen=True)
class ToolsConfig:
    """Settings of a tools episode."""

    max_steps: int = 10
    """Replies (tool calls, bad calls and the final answer) before the episode is truncated."""


@dataclass(frozen=True)
class ToolsSnapshot:
    """An opaque copy of an episode's full state, for `ToolsEnv.restore`."""

    world: World
    """The world (never handed out to be mutated)."""
    steps: int
    """Replies so far."""
    history: tuple[ToolCall, ...]
    """The valid calls made so far, with their checked arguments."""
    done: bool
    """Whether the final answer has been given."""
    won: bool
    """Whether it was judged right."""
    task_id: str
    """The task the snapshot belongs to."""


def task_tools(task: TaskSpec) -> list[dict[str, Any]]:
    """The tools `task` offers, as OpenAI function specs, in the task's order (`EnvEntry.tool_specs`)."""
    return [TOOLS[name].spec() for name in task.data["tools"]]


def first_observation(task: TaskSpec) -> str:
    """The task sentence, then the offered tools in the text form of `agents.tool_calls` (a `Tools:` line, one
    compact JSON spec per line)."""
    return f"Task: {task.instruction}" + tools_block(task_tools(task))


def render_result(result: Any) -> str:
    """A tool's result as the agent sees it: one line of JSON."""
    return json.dumps(result, ensure_ascii=False)


def planned_calls(task: TaskSpec) -> tuple[ToolCall, ...]:
    """The expert's calls for `task`, in order."""
    return tuple(ToolCall(c["name"], dict(c["arguments"])) for c in task.data["calls"])


class ToolsEnv:
    """A world of APIs: the agent calls tools in `<tool_call>` tags, then gives a final answer that ends the episode.

    Reward 1.0 iff the final world equals the one the expert's calls make and the answer holds the required
    phrases. `info` carries `won`, `steps`, `tool_call` (the parsed call or None), `calls` (valid calls so far) and,
    after a bad call or a lost episode, `feedback`. The world is fixed by the task; `reset`'s seed is accepted and
    ignored.
    """

    def __init__(self, task: TaskSpec, config: ToolsConfig | None = None) -> None:
        self.task = task
        self.config = config or ToolsConfig()
        if self.config.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.config.max_steps}")
        self.tools: tuple[str, ...] = tuple(task.data["tools"])
        unknown = [t for t in self.tools if t not in TOOLS]
        if unknown:
            raise ValueError(f"task {task.task_id} offers unknown tools {unknown}; known: {', '.join(TOOLS)}")
        self._initial = build_world(task.data["world_seed"])
        self._expected = self._initial.copy()
        for call in planned_calls(task):
            try:
                execute(self._expected, call.name, call.arguments, self.tools)
            except ToolError as exc:
                raise ValueError(f"task {task.task_id}: the expert's call {call.to_dict()} fails: {exc}") from None
        self.world = self._initial.copy()
        self.steps = 0
        self.history: list[ToolCall] = []
        self.done = False
        self.won = False

    def _info(self, call: ToolCall | None = None, feedback: str | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {
            "won": self.won,
            "steps": self.steps,
            "tool_call": call.to_dict() if call else None,
            "calls": len(self.history),
        }
        if feedback:
            info["feedback"] = feedback
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Put the world back to the task's initial state; returns the task and its tools, and info."""
        self.world = self._initial.copy()
        self.steps = 0
        self.history = []
        self.done = False
        self.won = False
        return first_observation(self.task), self._info()

    def _judge(self, answer: str) -> list[str]:
        data = self.task.data
        if data["kind"] != "act" and self.world.state() != self._initial.state():
            need = f"asking for the {data['missing']}" if data["kind"] == "ask" else "saying no tool can do it"
            return [f"a tool changed the world though the task needed {need}"]
        diffs = world_differences(self._initial, self._expected, self.world, data["text_checks"])
        return diffs + answer_differences(answer, data["answer_checks"])

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one reply: run its tool call, or judge it as the final answer (reward 1.0 when right)."""
        if self.done:
            return FINISHED, 0.0, True, False, self._info()
        self.steps += 1
        parsed = parse_reply(action if isinstance(action, str) else "")
        call, reward, feedback = None, 0.0, None
        if isinstance(parsed, Answer):
            self.done = True
            diffs = self._judge(parsed.text)
            self.won = not diffs
            reward = 1.0 if self.won else 0.0
            obs, feedback = FINISHED, "; ".join(diffs[:MAX_FEEDBACK]) or None
        elif isinstance(parsed, CallError):
            obs, feedback = f"error: {parsed.message}", parsed.message
        else:
            call = parsed
            try:
                checked, result = execute(self.world, call.name, call.arguments, self.tools)
            except ToolError as exc:
                obs, feedback = f"error: {exc}", str(exc)
            else:
                self.history.append(ToolCall(call.name, checked))
                obs = render_result(result)
        truncated = not self.done and self.steps >= self.config.max_steps
        if truncated and feedback is None:
            feedback = f"the step limit ({self.config.max_steps}) was reached before a final answer"
        return obs, reward, self.done, truncated, self._info(call, feedback)

    def snapshot(self) -> ToolsSnapshot:
        """A cheap copy of the full episode state (restore it any number of times)."""
        return ToolsSnapshot(self.world.copy(), self.steps, tuple(self.history), self.done, self.won,
                             self.task.task_id)  # fmt: skip

    def restore(self, snap: ToolsSnapshot) -> None:
        """Return to a state saved by `snapshot` on this task."""
        if snap.task_id != self.task.task_id:
            raise ValueError(f"snapshot is of task {snap.task_id!r}, this env plays {self.task.task_id!r}")
        self.world = snap.world.copy()
        self.steps = snap.steps
        self.history = list(snap.history)
        self.done = snap.done
        self.won = snap.won

    def close(self) -> None:
        """Nothing to release (the world lives in memory)."""


def make_env(task: TaskSpec, **kwargs: Any) -> ToolsEnv:
    """Build the environment for `task`; `max_steps=` sets the truncation horizon (other keywords are ignored)."""
    known = {k: kwargs.pop(k) for k in list(kwargs) if k in ToolsConfig.__dataclass_fields__}
    if kwargs:
        log.debug("tools env ignores keywords %s", sorted(kwargs))
    return ToolsEnv(task, ToolsConfig(**known))
