"""Every registered Kintsugi environment as a gymnasium environment, for RL code that speaks gymnasium.

    import gymnasium
    env = gymnasium.make("environments.gym:kintsugi/household-v0", split="valid_unseen", max_steps=30)
    obs, info = env.reset(seed=0)                      # a task drawn by the seed (or options={"task": id})
    obs, reward, terminated, truncated, info = env.step("go to countertop 1")

Importing this module registers `kintsugi/<name>-v0` for the built-in environments and the plug-ins installed
(the `module:` prefix above imports it for you). Observations and actions are text (`gymnasium.spaces.Text` over
printable characters); `info` is the environment's own plus `task_id`.
"""

from __future__ import annotations

import string
from typing import Any, ClassVar

import gymnasium
from gymnasium import spaces

from environments.base import TaskSpec, get_entry, gym_id, registered

MAX_TEXT = 1 << 16
"""Longest observation or action the text spaces hold (characters)."""


class TextEnv(gymnasium.Env):
    """A Kintsugi environment behind gymnasium's `Env`: one task per episode, text in and text out.

    `env`: the registered name; `suite`, `split`: which tasks (the environment's defaults when None); `task`: always
    play this task (index or task id) instead of drawing one per reset; other keywords go to the environment's
    factory (e.g. `max_steps`). The shared resources the environment needs (a sandbox) are made once and closed by
    `close()`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}

    def __init__(
        self,
        env: str,
        suite: str | None = None,
        split: str | None = None,
        task: int | str | None = None,
        render_mode: str | None = None,
        **options: Any,
    ) -> None:
        self.entry = get_entry(env)
        self.tasks = self.entry.load_tasks(suite, split, None)
        self.fixed = None if task is None else self._find(task)
        self.options = options
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_TEXT, charset=string.printable)
        self.action_space = spaces.Text(max_length=MAX_TEXT, charset=string.printable)
        self._resources: dict[str, Any] | None = None
        self._env: Any = None
        self._last = ""

    def _find(self, task: int | str) -> TaskSpec:
        if isinstance(task, int):
            if not 0 <= task < len(self.tasks):
                raise ValueError(f"task index {task} is out of range: the split has {len(self.tasks)} tasks")
            return self.tasks[task]
        for spec in self.tasks:
            if spec.task_id == task:
                return spec
        raise ValueError(f"no task {task!r} in the {self.entry.name} split")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        chosen = (options or {}).get("task")
        if chosen is not None:
            spec = self._find(chosen)
        elif self.fixed is not None:
            spec = self.fixed
        else:
            spec = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        if self._env is not None:
            self._env.close()
        if self._resources is None:
            self._resources = self.entry.resources()
        self._env = self.entry.make(spec, **self._resources, **self.options)
        self._last, info = self._env.reset(seed=seed)
        return self._last, {**info, "task_id": spec.task_id}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._env is None:
            raise RuntimeError("call reset() before step()")
        self._last, reward, terminated, truncated, info = self._env.step(action)
        return self._last, float(reward), terminated, truncated, {**info, "task_id": self._env.task.task_id}

    def render(self) -> str | None:
        return self._last if self.render_mode == "ansi" else None

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        for resource in (self._resources or {}).values():
            resource.close()
        self._resources = None


def register_all() -> list[str]:
    """Register every Kintsugi environment with gymnasium (again after a plug-in registers); returns the ids."""
    ids = []
    for name in registered():
        ident = gym_id(name)
        if ident not in gymnasium.registry:
            gymnasium.register(id=ident, entry_point=TextEnv, kwargs={"env": name})
        ids.append(ident)
    return ids


register_all()
