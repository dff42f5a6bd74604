"""The code environment: the agent writes a function, the sandbox runs the task's tests on it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from environments.base import TaskSpec
from environments.code.extract import extract_code
from environments.code.grading import build_program, feedback_from
from sandboxes.types import Limits, Sandbox

SYSTEM_PROMPT = (
    "You are an expert Python programmer. When asked for a function, reply with the complete function "
    "(its imports, signature and body) in one ```python code block, then stop. If tests fail, read the "
    "error, fix the function and reply with the whole corrected function in one ```python code block."
)


def task_prompt(task: TaskSpec) -> str:
    """The first observation: the function to write, as its signature and docstring."""
    entry = task.data["entry_point"]
    return (
        f"Write the Python function `{entry}` described below. Reply with the complete function in one "
        f"```python code block.\n\n```python\n{task.data['prompt'].rstrip()}\n```"
    )


@dataclass(frozen=True)
class CodeEnvConfig:
    """Settings of one code episode."""

    max_attempts: int = 3
    """Solutions the agent may submit; the episode is truncated after the last failed one."""
    limits: Limits = field(default_factory=lambda: Limits(timeout=10.0, cpu_seconds=10, memory_mb=1024))
    """Sandbox limits for one run of the tests."""


class CodeEnv:
    """Gymnasium-style episode over one code task; reward 1.0 when the task's tests pass."""

    def __init__(self, task: TaskSpec, sandbox: Sandbox, config: CodeEnvConfig | None = None) -> None:
        for key in ("prompt", "entry_point", "test"):
            if key not in task.data:
                raise ValueError(f"task {task.task_id} has no {key!r}; code tasks need prompt, entry_point, test")
        self.task = task
        self.sandbox = sandbox
        self.config = config or CodeEnvConfig()
        self.attempts = 0
        self.done = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        self.attempts = 0
        self.done = False
        return task_prompt(self.task), {"attempt": 0, "max_attempts": self.config.max_attempts}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.done:
            raise RuntimeError("step() after the episode ended; call reset() first")
        self.attempts += 1
        entry = self.task.data["entry_point"]
        info: dict[str, Any] = {"attempt": self.attempts}
        code = extract_code(action, entry)
        if code is None:
            feedback = f"No ```python code block defining `{entry}` was found in the reply."
            info.update(feedback=feedback, passed=False, no_code=True)
            return self._finish(0.0, feedback, info)
        program = build_program(self.task.data["prompt"], code, self.task.data["test"], entry)
        start = time.perf_counter()
        result = self.sandbox.run(program, limits=self.config.limits)
        info["sandbox_seconds"] = time.perf_counter() - start
        info["code"] = code
        if result.ok:
            info["passed"] = True
            self.done = True
            return "All tests passed.", 1.0, True, False, info
        feedback = feedback_from(result)
        info.update(feedback=feedback, passed=False, exit_code=result.exit_code, timed_out=result.timed_out)
        return self._finish(0.0, f"The tests failed:\n{feedback}", info)

    def _finish(
        self, reward: float, message: str, info: dict[str, Any]
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        truncated = self.attempts >= self.config.max_attempts
        self.done = truncated
        if truncated:
            obs = f"{message}\nNo attempts left."
        else:
            left = self.config.max_attempts - self.attempts
            obs = (
                f"{message}\nFix the function and reply with the complete corrected function in one "
                f"```python code block ({left} attempt{'s' if left > 1 else ''} left)."
            )
        return obs, reward, False, truncated, info

    def close(self) -> None:
        """The sandbox is shared and owned by whoever made it; nothing to release here."""
