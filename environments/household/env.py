"""`HouseholdEnv`: one household game behind the gymnasium-style text contract."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from environments.base import TaskSpec
from environments.household.generate import build_world
from environments.household.world import World

log = logging.getLogger(__name__)

THINK_REPLY = "OK."
"""What a `think: ...` step answers (ReAct's convention on ALFWorld)."""
MAX_ACTION_CHARS = 300
"""Longer actions cannot be valid commands; they are cut before parsing."""


@dataclass(frozen=True)
class HouseholdConfig:
    """Settings of a household episode."""

    max_steps: int = 50
    """Steps (think steps included, as in ReAct's ALFWorld runs) before the episode is truncated."""


@dataclass(frozen=True)
class HouseholdSnapshot:
    """An opaque copy of an episode's full state, for `HouseholdEnv.restore`."""

    world: World
    """The game state (never handed out to be mutated)."""
    steps: int
    """Steps taken so far."""
    won: bool
    """Whether the goal has been reached."""
    task_id: str
    """The task the snapshot belongs to."""


def normalize(action: Any) -> str:
    """Lowercase, single-spaced, trimmed command text ("" for anything that is not a string)."""
    if not isinstance(action, str):
        return ""
    return " ".join(action[:MAX_ACTION_CHARS].lower().split())


class HouseholdEnv:
    """An ALFWorld-like household game: text commands in, ALFWorld-style observations out.

    `info` carries `admissible_actions` (sorted valid commands), `won`, `steps` and `task_type`.
    The game is fixed by the task, so `reset`'s seed is not needed (it is accepted and ignored).
    """

    def __init__(self, task: TaskSpec, config: HouseholdConfig | None = None) -> None:
        self.task = task
        self.config = config or HouseholdConfig()
        if self.config.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.config.max_steps}")
        self._initial = build_world(task)
        self.world: World = self._initial.copy()
        self.steps = 0
        self.won = False

    def _info(self) -> dict[str, Any]:
        return {
            "admissible_actions": self.world.admissible_actions(),
            "won": self.won,
            "steps": self.steps,
            "task_type": self.world.layout.goal.task_type,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Put the game back to its initial state; returns the opening observation and info."""
        self.world = self._initial.copy()
        self.steps = 0
        self.won = False
        return self.world.intro(), self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one command (or a `think: ...` line); reward 1.0 on the step that solves the task.

        Steps after the end still apply (gymnasium leaves them undefined); they never pay again.
        """
        command = normalize(action)
        self.steps += 1
        obs = THINK_REPLY if command.startswith("think:") else self.world.apply(command)
        reward = 0.0
        if not self.won and self.world.won():
            self.won = True
            reward = 1.0
        truncated = not self.won and self.steps >= self.config.max_steps
        return obs, reward, self.won, truncated, self._info()

    def admissible_actions(self) -> list[str]:
        """The valid commands in the current state, sorted."""
        return self.world.admissible_actions()

    def snapshot(self) -> HouseholdSnapshot:
        """A cheap copy of the full episode state (restore it any number of times)."""
        return HouseholdSnapshot(self.world.copy(), self.steps, self.won, self.task.task_id)

    def restore(self, snap: HouseholdSnapshot) -> None:
        """Return to a state saved by `snapshot` on this task."""
        if snap.task_id != self.task.task_id:
            raise ValueError(f"snapshot is of task {snap.task_id!r}, this env plays {self.task.task_id!r}")
        self.world = snap.world.copy()
        self.steps = snap.steps
        self.won = snap.won

    def close(self) -> None:
        """Nothing to release (the game lives in memory)."""


def make_env(task: TaskSpec, **kwargs: Any) -> HouseholdEnv:
    """Build the environment for `task`; `max_steps=` sets the truncation horizon (other keywords are ignored)."""
    known = {k: kwargs.pop(k) for k in list(kwargs) if k in HouseholdConfig.__dataclass_fields__}
    if kwargs:
        log.debug("household env ignores keywords %s", sorted(kwargs))
    return HouseholdEnv(task, HouseholdConfig(**known))
