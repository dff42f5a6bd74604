"""ReAct prompting in ALFWorld's style: the system prompt with expert few-shot episodes, and the action parser."""

from __future__ import annotations

from environments.base import TaskSpec
from environments.household.env import HouseholdEnv
from environments.household.expert import demo_plan
from environments.household.generate import SPLIT_SIZES, make_task
from environments.household.vocab import TASK_TYPES

INSTRUCTIONS = """You are an agent in a household. Interact with the room to solve the task.
Reply with exactly one line: either a command or a thought that starts with "think:".
Commands: go to (receptacle), open (receptacle), close (receptacle), take (object) from (receptacle), \
move (object) to (receptacle), use (object), heat (object) with (receptacle), \
cool (object) with (receptacle), clean (object) with (receptacle), examine (something), inventory, look.
Names carry their number, e.g. "take mug 1 from countertop 2". You must be at a receptacle to interact \
with it, and you carry at most one object. Cabinets, drawers, fridges, microwaves and safes must be \
opened before you can see, take or put things inside. Heat with a microwave, cool with a fridge, clean \
with a sinkbasin. To look at something under a lamp, hold it and use the lamp.
A thought changes nothing and is answered "OK.". A command that is not valid is answered \
"Nothing happens.\""""

COMPACT_INSTRUCTIONS = """You are an agent in a household. Reply with one line: a command or a thought starting with \
"think:".
Commands: go to X, open X, close X, take X from Y, move X to Y, use X, heat X with Y, cool X with Y, clean X with Y, \
examine X, inventory, look."""
"""The `compact` prompt: the grammar in two lines and no demonstrations (~60 tokens instead of ~1,400), for agents
that learned the game from demonstrations (a warm start)."""

DEMO_TYPES: tuple[str, ...] = ("pick_clean_then_place", "look_at_obj_in_light")
"""Task types of the default few-shot examples."""
_DEMO_SCAN = 120
_DEMO_MIN_ACTIONS = 5


def expert_replies(env: HouseholdEnv) -> list[str]:
    """The searching demonstrator's replies (thoughts and commands) from a freshly reset episode."""
    return demo_plan(env, think=True)


def parse_action(reply: str) -> str:
    """The command in a model reply: first non-empty line, without a leading `>`/`Action:`, lowercased."""
    if not isinstance(reply, str):
        return ""
    line = next((ln for ln in reply.splitlines() if ln.strip()), "")
    text = line.strip()
    while True:
        if text.startswith(">"):
            text = text[1:].lstrip()
        elif text.lower().startswith("action:"):
            text = text[len("action:") :].lstrip()
        else:
            break
    return " ".join(text.lower().split())


def episode_text(task: TaskSpec, plan: list[str]) -> str:
    """A transcript in the prompt's format: opening observation, then `> action` and observation lines."""
    env = HouseholdEnv(task)
    obs, _ = env.reset()
    lines = [obs]
    for action in plan:
        obs, *_ = env.step(action)
        lines += [f"> {action}", obs]
    return "\n".join(lines)


def demo_task(task_type: str) -> TaskSpec:
    """The train task used as the few-shot example of `task_type`: the shortest searching episode.

    Ties go to the room with fewer receptacles; the choice is fixed, so the prompt never changes.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; known: {', '.join(TASK_TYPES)}")
    best: tuple[tuple[int, int], TaskSpec] | None = None
    start = TASK_TYPES.index(task_type)
    for index in range(start, min(_DEMO_SCAN * len(TASK_TYPES), SPLIT_SIZES["train"]), len(TASK_TYPES)):
        task = make_task("train", index)
        env = HouseholdEnv(task)
        actions = demo_plan(env, think=False)
        if len(actions) < _DEMO_MIN_ACTIONS:
            continue
        key = (len(actions), len(env.world.layout.receptacles))
        if best is None or key < best[0]:
            best = (key, task)
    assert best is not None
    return best[1]


def build_few_shot(task_types: tuple[str, ...] = DEMO_TYPES) -> tuple[dict[str, str], ...]:
    """One expert episode (with thoughts) per task type, as chat turns: observations from the user, actions
    from the assistant. Small chat models follow turns far better than a transcript inside the system prompt
    (measured: SmolLM2-135M copied the room description back instead of acting)."""
    turns: list[dict[str, str]] = []
    for task_type in task_types:
        task = demo_task(task_type)
        env = HouseholdEnv(task)
        obs, _ = env.reset()
        if turns:
            obs = f"That task is done. A new one follows.\n\n{obs}"
        turns.append({"role": "user", "content": obs})
        for action in demo_plan(HouseholdEnv(task), think=True):
            turns.append({"role": "assistant", "content": action})
            obs, *_ = env.step(action)
            turns.append({"role": "user", "content": obs})
        turns.pop()  # the next task's opening observation takes the place of the demo's last answer
    return tuple(turns)


def build_system_prompt(task_types: tuple[str, ...] = DEMO_TYPES) -> str:
    """Instructions plus one expert episode (with thoughts) per task type in `task_types`, as one transcript
    (for models that take a single prompt; the registered env uses `INSTRUCTIONS` + `build_few_shot`)."""
    parts = [INSTRUCTIONS, f"Here {'is an example' if len(task_types) == 1 else 'are examples'}."]
    for task_type in task_types:
        task = demo_task(task_type)
        parts.append(episode_text(task, demo_plan(HouseholdEnv(task), think=True)))
    parts.append("Now it is your turn.")
    return "\n\n".join(parts)
