"""What the agent reads: the system prompt (the reply format's rules) and expert episodes as example turns.

The tools differ per task, so their specs are in each task's first observation, not here.
"""

from __future__ import annotations

from environments.tools.env import ToolsEnv, first_observation
from environments.tools.expert import expert_replies
from environments.tools.generate import load_tasks

SYSTEM_PROMPT = """You solve tasks with tools. Each task lists its tools as JSON specs.
To call a tool, reply with one call:
<tool_call>
{"name": "tool_name", "arguments": {"argument": "value"}}
</tool_call>
The result comes back as JSON. Call tools one at a time and use the ids and emails they return.
A reply without <tool_call> is your final answer and ends the task: give the result in it.
If the task lacks a detail a tool needs, do not guess: ask for it.
If no tool can do the task, say that you cannot do it."""
"""The default system prompt: the reply format in a few lines (~125 tokens)."""

COMPACT_PROMPT = """Solve the task with its tools. One call per reply:
<tool_call>
{"name": "tool_name", "arguments": {...}}
</tool_call>
A reply without <tool_call> is the final answer. Ask for a missing detail; say you cannot if no tool can."""
"""The `compact` prompt: the rules in four lines and no demonstrations, for agents trained on the format."""

DEMO_TEMPLATES: tuple[str, ...] = ("message", "ask_date")
"""Templates of the few-shot examples: a two-call task and one that must ask."""


def demo_env(template: str) -> ToolsEnv:
    """An env on the train task of `template` with the shortest first observation (a fixed choice)."""
    tasks = [t for t in load_tasks(split="train") if t.data["template"] == template]
    if not tasks:
        raise ValueError(f"no train task has template {template!r}")
    return ToolsEnv(min(tasks, key=lambda t: (len(first_observation(t)), t.task_id)))


def build_few_shot(templates: tuple[str, ...] = DEMO_TEMPLATES) -> tuple[dict[str, str], ...]:
    """One expert episode per template as chat turns: observations from the user, replies from the assistant."""
    turns: list[dict[str, str]] = []
    for template in templates:
        env = demo_env(template)
        obs, _ = env.reset()
        if turns:
            obs = f"That task is done. A new one follows.\n\n{obs}"
        turns.append({"role": "user", "content": obs})
        for reply in expert_replies(env):
            turns.append({"role": "assistant", "content": reply})
            obs, *_ = env.step(reply)
            turns.append({"role": "user", "content": obs})
        turns.pop()  # the next task's first observation takes the place of the finished one's last
    return tuple(turns)
