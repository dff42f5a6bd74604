"""An offline household environment that speaks ALFWorld's language.

Six ALFWorld task types in procedurally generated kitchens, bedrooms, bathrooms and living
rooms; `train` / `valid_seen` / `valid_unseen` splits; an oracle expert; ReAct prompting.
"""

from environments.base import EnvEntry, PromptProfile, register
from environments.household.env import HouseholdConfig, HouseholdEnv, HouseholdSnapshot, make_env
from environments.household.expert import demo_plan, expert_action, expert_plan
from environments.household.generate import SPLIT_SIZES, SUITE, load_tasks, make_task
from environments.household.prompts import (
    COMPACT_INSTRUCTIONS,
    INSTRUCTIONS,
    build_few_shot,
    build_system_prompt,
    expert_replies,
    parse_action,
)
from environments.household.vocab import TASK_TYPES

SYSTEM_PROMPT = INSTRUCTIONS
"""The ReAct system prompt: the rules of the household and the command grammar."""
FEW_SHOT = build_few_shot()
"""Two expert episodes from train (with thoughts) as chat turns, shown before every task."""

register(
    EnvEntry(
        name="household",
        load_tasks=load_tasks,
        make=make_env,
        system_prompt=SYSTEM_PROMPT,
        few_shot=FEW_SHOT,
        parse_action=parse_action,
        stop=("\n",),
        max_tokens=96,
        suites=(SUITE,),
        splits=tuple(SPLIT_SIZES),
        eval_split="valid_unseen",
        prompts={"compact": PromptProfile(COMPACT_INSTRUCTIONS)},
        expert=expert_replies,
        default_suite=SUITE,
        max_steps=50,
        oracle=expert_action,
        thought_prefix="think: ",
        ttsi="training.ttsi_steps:step_ttsi",
        ttsi_writer="environments.household.ttsi_examples:make_writer",
    )
)

__all__ = [
    "COMPACT_INSTRUCTIONS",
    "FEW_SHOT",
    "SPLIT_SIZES",
    "SYSTEM_PROMPT",
    "TASK_TYPES",
    "HouseholdConfig",
    "HouseholdEnv",
    "HouseholdSnapshot",
    "build_few_shot",
    "build_system_prompt",
    "demo_plan",
    "expert_action",
    "expert_plan",
    "expert_replies",
    "load_tasks",
    "make_env",
    "make_task",
    "parse_action",
]
