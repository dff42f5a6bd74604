"""An offline world of stateful APIs (contacts, calendar, messages, files, a shop) and stateless tools.

The agent sees each task's tools as JSON-schema specs (OpenAI function format), calls them in `<tool_call>`
tags (Hermes/Qwen style), and is judged by the final world and its final answer (tau-bench style). Suite `apis`:
`train` (300) and `test` (100, with tool combinations train never has); an expert and an oracle policy.
"""

from environments.base import EnvEntry, PromptProfile, register
from environments.tools.calls import CALL_END, CALL_START, ToolCall, close_tool_call, parse_reply, render_call
from environments.tools.env import ToolsConfig, ToolsEnv, ToolsSnapshot, first_observation, make_env, task_tools
from environments.tools.expert import expert_action, expert_replies
from environments.tools.generate import SPLIT_SIZES, SPLITS, SUITE, TEMPLATE_TASKS, load_tasks, make_task
from environments.tools.prompts import COMPACT_PROMPT, SYSTEM_PROMPT, build_few_shot
from environments.tools.tools import TOOLS

FEW_SHOT = build_few_shot()
"""Two expert episodes from train (a message sent via a contact lookup, a date asked for) as chat turns."""

register(
    EnvEntry(
        name="tools",
        load_tasks=load_tasks,
        make=make_env,
        system_prompt=SYSTEM_PROMPT,
        few_shot=FEW_SHOT,
        parse_action=str,
        stop=(CALL_END,),
        complete_reply=close_tool_call,
        max_tokens=128,
        suites=(SUITE,),
        splits=SPLITS,
        eval_split="test",
        prompts={"compact": PromptProfile(COMPACT_PROMPT)},
        expert=expert_replies,
        default_suite=SUITE,
        max_steps=ToolsConfig.max_steps,
        oracle=expert_action,
        tool_specs=task_tools,
        ttsi="training.ttsi_steps:step_ttsi",
        ttsi_writer="environments.tools.ttsi_examples:make_writer",
    )
)

__all__ = [
    "CALL_END",
    "CALL_START",
    "COMPACT_PROMPT",
    "FEW_SHOT",
    "SPLITS",
    "SPLIT_SIZES",
    "SUITE",
    "SYSTEM_PROMPT",
    "TEMPLATE_TASKS",
    "TOOLS",
    "ToolCall",
    "ToolsConfig",
    "ToolsEnv",
    "ToolsSnapshot",
    "build_few_shot",
    "close_tool_call",
    "expert_action",
    "expert_replies",
    "first_observation",
    "load_tasks",
    "make_env",
    "make_task",
    "parse_reply",
    "render_call",
    "task_tools",
]
