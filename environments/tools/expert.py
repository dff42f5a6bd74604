"""The expert: the task's planned calls in the reply format, then its final answer.

`expert_replies` plays a fresh episode. `expert_action` is the oracle for any state: it matches the planned calls
against the valid calls made so far (same tool, equivalent arguments, each made call used once, in any order) and
returns the first planned call not yet made, or the final answer once all are made (None after the episode ended).
It does not undo calls the agent should not have made; from such a state no reply wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from environments.tools.calls import ToolCall, render_call
from environments.tools.env import ToolsEnv, planned_calls
from environments.tools.judge import contains, norm

TEXT_ARGUMENTS: dict[str, tuple[str, str]] = {"messages_send": ("body", "message:{to}"),
                                              "files_write": ("content", "file:{path}")}  # fmt: skip
"""Tool -> (its free-text argument, the `text_checks` key that judges it)."""


def _same(planned: Any, made: Any) -> bool:
    if isinstance(planned, str) and isinstance(made, str):
        return norm(planned) == norm(made)
    return planned == made


def satisfies(made: ToolCall, planned: ToolCall, text_checks: Mapping[str, Sequence[str]]) -> bool:
    """Whether a call made does what a planned call does (free text only needs the task's phrases)."""
    if made.name != planned.name or set(made.arguments) != set(planned.arguments):
        return False
    text_arg, key = TEXT_ARGUMENTS.get(planned.name, ("", ""))
    for name, want in planned.arguments.items():
        got = made.arguments[name]
        phrases = text_checks.get(key.format(**planned.arguments)) if name == text_arg else None
        if not (all(contains(str(got), p) for p in phrases) if phrases else _same(want, got)):
            return False
    return True


def expert_replies(env: ToolsEnv) -> list[str]:
    """The expert's replies from a freshly reset episode: each planned call, then the final answer."""
    return [*(render_call(c) for c in planned_calls(env.task)), env.task.data["answer"]]


def expert_action(env: ToolsEnv) -> str | None:
    """The expert's next reply from the env's current state (see the module docstring); None once it is over."""
    if env.done:
        return None
    made = list(env.history)
    checks = env.task.data["text_checks"]
    for planned in planned_calls(env.task):
        match = next((c for c in made if satisfies(c, planned, checks)), None)
        if match is None:
            return render_call(planned)
        made.remove(match)
    return env.task.data["answer"]
