"""The tools environment's example writers for per-step TT-SI (`training.ttsi_steps`).

- `ExpertWriter` (TT-D's default here): train tasks that need the same tools (or share the most with the current
  task: the test split's tool combinations are unseen), played by the expert as far as the current episode has gone;
  each example is that episode up to the expert's reply at this step, every call one the environment accepted.
- `ModelWriter` (TT-SI and TT-ICL; TT-D with a teacher model): the model is shown the current task and writes another
  task for the same tools with its first tool call (its reply begun with `Task:`); only examples whose call names an
  offered tool with arguments its schema accepts are kept.
"""

from __future__ import annotations

import random

from agents.tool_calls import tools_block
from agents.types import LLM, Messages
from environments.base import TaskSpec
from environments.tools.calls import ToolCall, parse_reply, render_call
from environments.tools.env import ToolsEnv, task_tools
from environments.tools.expert import expert_replies
from environments.tools.generate import load_tasks
from environments.tools.prompts import SYSTEM_PROMPT
from environments.tools.schema import ToolError, check_arguments
from environments.tools.tools import TOOLS
from training.ttsi import EXPERT_TEACHER, TTSIConfig
from training.ttsi_steps import StepTTSIConfig

SYNTH_SYSTEM = "You write training examples for an agent that calls tools: a task and the tool call that starts it."


def _step(episode: Messages) -> int:
    """Replies made so far in `episode` (the conversation from the task's first observation on)."""
    return sum(1 for m in episode if m["role"] == "assistant")


def similar_tasks(task: TaskSpec, k: int, *, seed: int, step: int) -> list[TaskSpec]:
    """`k` train tasks needing the tools `task` needs (or, failing that, sharing the most of them), drawn
    reproducibly for this task, step and seed."""
    needed = set(task.data["needed"])
    pool = [t for t in load_tasks(split="train") if t.task_id != task.task_id]
    overlap = {t.task_id: len(needed & set(t.data["needed"])) for t in pool}
    same = [t for t in pool if set(t.data["needed"]) == needed]
    if len(same) < k:
        best = sorted(pool, key=lambda t: (-overlap[t.task_id], t.task_id))
        same = same + [t for t in best if t not in same][: max(k, 4 * k) - len(same)]
    rng = random.Random(f"{seed}/{task.task_id}/{step}")
    return rng.sample(same, min(k, len(same)))


def expert_examples(task: TaskSpec, step: int, k: int, *, seed: int = 0) -> list[Messages]:
    """For `k` similar train tasks: the expert's episode up to its reply at `step` (or its last), loss on each reply."""
    out = []
    for other in similar_tasks(task, k, seed=seed, step=step):
        env = ToolsEnv(other)
        obs, _ = env.reset()
        replies = expert_replies(env)
        conversation: Messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": obs}]
        for reply in replies[: min(step, len(replies) - 1) + 1]:
            conversation.append({"role": "assistant", "content": reply})
            obs, *_ = env.step(reply)
            conversation.append({"role": "user", "content": obs})
        out.append(conversation[:-1])
    return out


class ExpertWriter:
    """The expert on similar train tasks: real states, calls the environment accepted."""

    name = "expert:tools"

    def write(self, task: TaskSpec, episode: Messages, config: TTSIConfig) -> tuple[list[Messages], int]:
        """`config.k` expert conversations (all kept), and how many were written."""
        examples = expert_examples(task, _step(episode), config.k, seed=config.seed)
        return examples, len(examples)


def valid_call(call: ToolCall, offered: list[str]) -> bool:
    """The call names an offered tool with arguments its schema accepts."""
    if call.name not in offered:
        return False
    try:
        check_arguments(TOOLS[call.name].params, call.arguments)
    except ToolError:
        return False
    return True


def synthesis_request(task: TaskSpec) -> Messages:
    """Ask for another task for the same tools and the call that starts it."""
    names = ", ".join(task.data["tools"])
    return [
        {"role": "system", "content": SYNTH_SYSTEM},
        {
            "role": "user",
            "content": f"An agent has these tools: {names}.\nHere is one of its tasks:\nTask: {task.instruction}\n\n"
            "Write another task of the same kind for these tools, then the first tool call that solves it, as\n"
            'Task: ...\n<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>',
        },
    ]


class ModelWriter:
    """A model (the agent itself for TT-SI, a teacher LLM for TT-D) writes tasks with their first call."""

    def __init__(self, llm: LLM, max_tokens: int = 96) -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self.name = f"model:{llm.model_id}:{llm.adapter}"

    def write(self, task: TaskSpec, episode: Messages, config: TTSIConfig) -> tuple[list[Messages], int]:
        """Up to `config.k` distinct examples whose call is valid for the offered tools, and how many replies had
        the example format at all."""
        begun = "Task:"
        replies = self.llm.generate(
            [*synthesis_request(task), {"role": "assistant", "content": begun}],
            n=config.k * config.synthesis_tries,
            temperature=config.synthesis_temperature,
            max_tokens=self.max_tokens,
            seed=config.seed + _step(episode),
        )
        offered = list(task.data["tools"])
        kept: list[Messages] = []
        seen: set[str] = set()
        written = 0
        for reply in replies:
            text = begun + reply.text
            instruction = text[len(begun) :].split("<tool_call>")[0].strip()
            call = parse_reply(text)
            if not instruction or not isinstance(call, ToolCall):
                continue
            written += 1
            if valid_call(call, offered) and instruction not in seen and len(kept) < config.k:
                seen.add(instruction)
                observation = f"Task: {instruction}" + tools_block(task_tools(task))
                kept.append(
                    [
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": observation},
                        {"role": "assistant", "content": render_call(call)},
                    ]
                )
        return kept, written


Writer = ModelWriter | ExpertWriter


def make_writer(variant: str, llm: LLM, teacher: LLM | str | None, steps: StepTTSIConfig) -> Writer:
    """The tools environment's `EnvEntry.ttsi_writer`: `teacher` when given (an LLM, or "expert"), else the expert
    for tt-d and the model itself for tt-si and tt-icl."""
    if steps.expert not in (None, "expert"):
        raise ValueError(f"the tools environment has one expert; got {steps.expert!r}")
    if teacher == EXPERT_TEACHER or (teacher is None and variant == "tt-d"):
        return ExpertWriter()
    if isinstance(teacher, str):
        raise ValueError(f"unknown tools teacher {teacher!r}: pass an LLM or {EXPERT_TEACHER!r}")
    return ModelWriter(teacher or llm, steps.example_max_tokens)
