"""The household environment's example writers for per-step TT-SI (`training.ttsi_steps`), and the household
command grammar that checks what a model writes.

- `ModelWriter`: a model (the agent itself for TT-SI, a teacher LLM for TT-D) is shown the current task and state and
  writes situations of the same kind of task with their next command (its reply begun with `Task: ...` and
  `Observation:`, so even a small model keeps the format); only those whose command parses in the household grammar
  (`valid_command`) are kept.
- `ExpertWriter`: fresh train games of the same task type, played by the environment's expert as far as the current
  episode has gone: real states and actions the environment accepted (TT-D's default in the household env).
Each example is a conversation in the agent's format (system prompt, observations from the user, actions from the
assistant).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from agents.types import LLM, Messages
from environments.base import TaskSpec
from environments.household.env import HouseholdEnv
from environments.household.expert import demo_plan, expert_plan
from environments.household.generate import SPLIT_SIZES, make_task
from environments.household.prompts import INSTRUCTIONS, demo_task, parse_action
from environments.household.vocab import LAMPS, OPENABLE, ROOMS, TASK_TYPES, TOOL_FOR
from environments.household.world import NOTHING, WELCOME
from training.ttsi import EXPERT_TEACHER, TTSIConfig
from training.ttsi_steps import StepTTSIConfig

EXPERTS = ("demo", "oracle")
"""`demo`: searches like an agent that does not know where things are, with ReAct thoughts (as the few-shot
episodes); `oracle`: reads the true state and goes straight to the objects."""
SYNTH_SYSTEM = "You write training examples for a household agent: a situation and the right next command."
_UNINFORMATIVE = (NOTHING, "OK.")


# the household grammar ----------------------------------------------------------------------------------------------
_RECEPTACLES = frozenset(r for room in ROOMS.values() for r in room.receptacles)
_OBJECTS = frozenset(o for room in ROOMS.values() for o in room.objects)
_TOOLS = {verb: TOOL_FOR[f"pick_{verb}_then_place"] for verb in ("clean", "heat", "cool")}
_NAME = re.compile(r"([a-z]+) ([1-9][0-9]*)")
_TWO_ARGS = re.compile(r"(take|move|heat|cool|clean) (\S+ \S+) (from|to|with) (\S+ \S+)")
_PREPOSITION = {"take": "from", "move": "to", "heat": "with", "cool": "with", "clean": "with"}


def _named(name: str, kinds: frozenset[str] | set[str]) -> bool:
    m = _NAME.fullmatch(name)
    return m is not None and m.group(1) in kinds


def valid_command(action: str) -> bool:
    """Whether `action` (as `parse_action` returns it) is a household command with well-formed names of the right
    kinds, e.g. `take mug 1 from countertop 2` (thoughts and free text are not)."""
    if action in ("look", "inventory"):
        return True
    one_arg = (
        ("go to ", _RECEPTACLES),
        ("open ", OPENABLE),
        ("close ", OPENABLE),
        ("use ", frozenset(LAMPS)),
        ("examine ", _RECEPTACLES | _OBJECTS | frozenset(LAMPS)),
    )
    for verb, kinds in one_arg:
        if action.startswith(verb):
            return _named(action[len(verb) :], kinds)
    m = _TWO_ARGS.fullmatch(action)
    if m is None or _PREPOSITION[m.group(1)] != m.group(3):
        return False
    verb, obj, place = m.group(1), m.group(2), m.group(4)
    return _named(obj, _OBJECTS) and _named(place, {_TOOLS[verb]} if verb in _TOOLS else _RECEPTACLES)


# self-data augmentation ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Situation:
    """What the example writers are told about an uncertain step."""

    task: TaskSpec
    step: int
    """Actions taken so far in the episode."""
    observation: str
    """The latest observation that says something (not "Nothing happens." or "OK.")."""


def situation_of(task: TaskSpec, episode: Messages) -> Situation:
    """The situation at the end of `episode` (the conversation from the opening observation on)."""
    seen = [m["content"] for m in episode if m["role"] == "user"]
    informative = [o for o in seen if o.strip() not in _UNINFORMATIVE]
    return Situation(task=task, step=len(seen) - 1, observation=informative[-1] if informative else seen[0])


def _situation_text(task_text: str, observation: str) -> str:
    text = observation.replace(WELCOME, "").split("Your task is to:")[0]
    return f"Task: {task_text}\nObservation: {' '.join(text.split())}"


def _state_turn(task_text: str, observation: str) -> str:
    """A single-state prompt in the shape of an episode's opening observation."""
    return f"{observation.strip()}\n\nYour task is to: {task_text}"


@dataclass(frozen=True)
class WrittenExample:
    """A model-written situation with its next command."""

    task: str
    observation: str
    command: str

    def conversation(self) -> Messages:
        """The example as a training conversation: the state from the user, the command from the assistant."""
        return [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": _state_turn(self.task, self.observation)},
            {"role": "assistant", "content": self.command},
        ]


_WRITTEN = re.compile(r"Task:\s*(.+?)\s*\n\s*Observation:\s*(.+?)\s*Command:\s*([^\n]+)", re.S)


def parse_written_example(reply: str) -> WrittenExample | None:
    """The example in a written reply (`Task:`, `Observation:` and `Command:` lines), its command as `parse_action`
    reads it; None when malformed. Whether the command is valid is `valid_command`'s to say."""
    m = _WRITTEN.search(reply)
    if m is None:
        return None
    command = parse_action(m.group(3))
    return WrittenExample(task=m.group(1).strip(), observation=m.group(2).strip(), command=command)


def _demo_states(task: TaskSpec) -> list[tuple[str, str]]:
    """(situation text, command) before each command of the searching expert's episode of `task`."""
    env = HouseholdEnv(task)
    obs, _ = env.reset()
    states = []
    for action in demo_plan(env, think=False):
        states.append((_situation_text(task.data["task_text"], obs), action))
        obs, *_ = env.step(action)
    return states


@cache
def _shot(task_type: str) -> tuple[str, str, str]:
    """(situation shown, situation written, its command) of the worked example for `task_type`: a state of the fixed
    demo game of that type, and a mid-episode state of another fixed train game of that type."""
    demo = demo_task(task_type)
    other = next(
        make_task("train", i)
        for i in range(TASK_TYPES.index(task_type), SPLIT_SIZES["train"], len(TASK_TYPES))
        if i != demo.data["index"]
    )
    states = _demo_states(other)
    return _demo_states(demo)[1][0], *states[len(states) // 2]


def synthesis_request(situation: Situation) -> Messages:
    """One worked example (see `_shot`; train games only, so nothing of the test game leaks), then the current
    situation."""
    shown, written, command = _shot(situation.task.data["task_type"])

    def ask(text: str) -> str:
        return (
            f"Here is a situation of a household agent:\n\n{text}\n\nWrite another situation of the same kind of "
            "task, in a different room, and the right next command, in the same format with a Command: line."
        )

    current = _situation_text(situation.task.data["task_text"], situation.observation)
    return [
        {"role": "system", "content": SYNTH_SYSTEM},
        {"role": "user", "content": ask(shown)},
        {"role": "assistant", "content": f"{written}\nCommand: {command}"},
        {"role": "user", "content": ask(current)},
    ]


class ModelWriter:
    """A model (the agent itself for TT-SI, a teacher LLM for TT-D) writes situations with their next commands."""

    def __init__(self, llm: LLM, max_tokens: int = 96) -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self.name = f"model:{llm.model_id}:{llm.adapter}"

    def write(self, task: TaskSpec, episode: Messages, config: TTSIConfig) -> tuple[list[Messages], int]:
        """Up to `config.k` distinct examples whose command is in the household grammar, and how many replies had
        the example format at all. The reply is begun with the current task and `Observation:`."""
        situation = situation_of(task, episode)
        begun = f"Task: {situation.task.data['task_text']}\nObservation:"
        replies = self.llm.generate(
            [*synthesis_request(situation), {"role": "assistant", "content": begun}],
            n=config.k * config.synthesis_tries,
            temperature=config.synthesis_temperature,
            max_tokens=self.max_tokens,
            seed=config.seed + situation.step,
        )
        kept: list[Messages] = []
        seen: set[tuple[str, str]] = set()
        written = 0
        for reply in replies:
            example = parse_written_example(begun + reply.text)
            if example is None:
                continue
            written += 1
            key = (example.observation, example.command)
            if valid_command(example.command) and key not in seen and len(kept) < config.k:
                seen.add(key)
                kept.append(example.conversation())
        return kept, written


def similar_games(task: TaskSpec, k: int, *, seed: int, step: int) -> list[TaskSpec]:
    """`k` train games of `task`'s type, drawn reproducibly for this task, step and seed."""
    first = TASK_TYPES.index(task.data["task_type"])
    pool = range(first, SPLIT_SIZES["train"], len(TASK_TYPES))
    rng = random.Random(f"{seed}/{task.task_id}/{step}")
    return [make_task("train", i) for i in rng.sample(pool, k)]


def expert_examples(
    task: TaskSpec, step: int, k: int, *, seed: int = 0, expert: str = "demo"
) -> list[tuple[TaskSpec, Messages]]:
    """(game, conversation) for `k` similar train games: the expert's episode up to the action it takes at `step`
    (or its last one), each command checked against the environment; loss goes on every assistant turn."""
    if expert not in EXPERTS:
        raise ValueError(f"unknown household expert {expert!r}; use one of {', '.join(EXPERTS)}")
    out = []
    for game in similar_games(task, k, seed=seed, step=step):
        env = HouseholdEnv(game)
        obs, _ = env.reset()
        plan = demo_plan(env, think=True) if expert == "demo" else expert_plan(env)
        conversation: Messages = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": obs}]
        for action in plan[: min(step, len(plan) - 1) + 1]:
            if not action.startswith("think:") and action not in env.admissible_actions():
                raise RuntimeError(f"the {expert} expert sent {action!r}, not admissible in {game.task_id}")
            conversation.append({"role": "assistant", "content": action})
            obs, *_ = env.step(action)
            conversation.append({"role": "user", "content": obs})
        out.append((game, conversation[:-1]))
    return out


class ExpertWriter:
    """The environment's expert on fresh similar games (TT-D without a teacher model): real states, verified actions."""

    def __init__(self, expert: str = "demo") -> None:
        self.expert = expert
        self.name = f"expert:{expert}"

    def write(self, task: TaskSpec, episode: Messages, config: TTSIConfig) -> tuple[list[Messages], int]:
        """`config.k` expert conversations (all kept), and how many were written."""
        situation = situation_of(task, episode)
        pairs = expert_examples(task, situation.step, config.k, seed=config.seed, expert=self.expert)
        return [conversation for _, conversation in pairs], len(pairs)


Writer = ModelWriter | ExpertWriter


def make_writer(variant: str, llm: LLM, teacher: LLM | str | None, steps: StepTTSIConfig) -> Writer:
    """The household's `EnvEntry.ttsi_writer`: `writer_for` with the step settings' expert and example budget."""
    expert = steps.expert or "demo"
    if expert not in EXPERTS:
        raise ValueError(f"unknown household expert {expert!r}; use one of {', '.join(EXPERTS)}")
    return writer_for(variant, llm, teacher, expert, steps.example_max_tokens)


def writer_for(variant: str, llm: LLM, teacher: LLM | str | None, expert: str = "demo", max_tokens: int = 96) -> Writer:
    """Who writes a variant's examples: `teacher` when given (an LLM, or "expert"), else the expert for tt-d and the
    model itself for tt-si and tt-icl."""
    if teacher == EXPERT_TEACHER or (teacher is None and variant == "tt-d"):
        return ExpertWriter(expert)
    if isinstance(teacher, str):
        raise ValueError(f"unknown household teacher {teacher!r}: pass an LLM or {EXPERT_TEACHER!r}")
    return ModelWriter(teacher or llm, max_tokens)
