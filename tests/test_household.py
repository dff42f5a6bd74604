"""The household environment: ALFWorld's language, solvable by the expert, hard by chance, deterministic."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import environments.household as hh
from environments.base import TaskSpec, get_entry
from environments.household import (
    SPLIT_SIZES,
    TASK_TYPES,
    HouseholdEnv,
    demo_plan,
    expert_action,
    expert_plan,
    load_tasks,
    make_env,
    parse_action,
)
from environments.household.generate import is_unseen
from environments.household.vocab import OPENABLE
from environments.household.world import NOTHING, WELCOME


def _combo(task: TaskSpec) -> tuple[str, str, str]:
    return task.data["task_type"], task.data["object"], task.data["target"]


def _sample_tasks() -> list[TaskSpec]:
    return (
        load_tasks(split="train", limit=300)
        + load_tasks(split="valid_seen")
        + load_tasks(split="valid_unseen", limit=100)
    )


def _random_walk(env: HouseholdEnv, rng: random.Random, n: int) -> dict:
    _, info = env.reset()
    for _ in range(n):
        _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
        if terminated or truncated:
            break
    return info


def test_load_tasks_gives_fixed_split_sizes_and_rejects_unknown_names() -> None:
    for split, size in SPLIT_SIZES.items():
        assert len(load_tasks(split=split)) == size
    assert (SPLIT_SIZES["train"], SPLIT_SIZES["valid_seen"], SPLIT_SIZES["valid_unseen"]) == (3000, 140, 134)
    assert load_tasks() == load_tasks("alfworld-like", "train")
    assert len(load_tasks(split="valid_seen", limit=7)) == 7
    with pytest.raises(ValueError, match="valid_unseen"):
        load_tasks(split="test")
    with pytest.raises(ValueError, match="alfworld-like"):
        load_tasks(suite="webshop")
    ids = [t.task_id for t in load_tasks()]
    assert len(set(ids)) == len(ids)


def test_registry_entry_describes_the_household() -> None:
    entry = get_entry("household")
    assert entry.stop == ("\n",) and entry.max_tokens == 96
    assert entry.splits == ("train", "valid_seen", "valid_unseen") and entry.suites == ("alfworld-like",)
    assert entry.parse_action("> Go to  Cabinet 1\n> open cabinet 1") == "go to cabinet 1"
    task = entry.load_tasks(split="valid_unseen", limit=1)[0]
    env = entry.make(task, max_steps=7, sandbox="ignored")
    assert isinstance(env, HouseholdEnv) and env.config.max_steps == 7


def test_expert_solves_every_sampled_task_of_all_types_and_splits() -> None:
    tasks = _sample_tasks()
    assert len(tasks) >= 500
    assert {t.data["task_type"] for t in tasks} == set(TASK_TYPES)
    assert {t.data["split"] for t in tasks} == set(SPLIT_SIZES)
    for task in tasks:
        env = make_env(task)
        env.reset()
        for action in expert_plan(env):
            obs, reward, terminated, truncated, info = env.step(action)
            assert obs != NOTHING, (task.task_id, action)
        assert terminated and info["won"] and reward == 1.0 and not truncated, task.task_id


def test_expert_finishes_from_the_middle_of_an_episode() -> None:
    rng = random.Random(3)
    for task in load_tasks(split="valid_seen", limit=60):
        env = make_env(task, max_steps=200)
        info = _random_walk(env, rng, 12)
        if info["won"]:
            continue
        while (action := expert_action(env)) is not None:
            *_, info = env.step(action)
        assert info["won"], task.task_id


def test_searching_demonstrator_solves_tasks_without_peeking() -> None:
    for task in load_tasks(split="train", limit=90):
        env = make_env(task, max_steps=500)
        env.reset()
        plan = demo_plan(env)
        assert any(a.startswith("think:") for a in plan)
        for action in plan:
            obs, reward, terminated, _, _ = env.step(action)
            assert obs != NOTHING
        assert terminated and reward == 1.0, task.task_id


def test_random_admissible_policy_rarely_wins() -> None:
    rng = random.Random(0)
    tasks = load_tasks(split="train", limit=240)
    wins = sum(_random_walk(make_env(t), rng, 50)["won"] for t in tasks)
    assert wins / len(tasks) < 0.25


def test_same_task_gives_same_game_and_different_tasks_differ() -> None:
    rng_actions = random.Random(5)
    task = load_tasks(split="train", limit=1)[0]
    a, b = make_env(task), make_env(task)
    obs_a, info_a = a.reset()
    obs_b, info_b = b.reset(seed=123)
    assert obs_a == obs_b and info_a == info_b
    for _ in range(30):
        action = rng_actions.choice(info_a["admissible_actions"])
        out_a, out_b = a.step(action), b.step(action)
        assert out_a == out_b
        info_a = out_a[4]
    intros = {make_env(t).reset()[0] for t in load_tasks(split="train", limit=60)}
    assert len(intros) == 60


def test_games_are_identical_across_processes() -> None:
    code = (
        "import environments.household as h;"
        "print(repr([h.make_env(t).reset()[0] for t in h.load_tasks(split='valid_unseen', limit=5)]))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
            cwd=Path(__file__).resolve().parents[1],
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1


def test_observations_read_like_alfworld() -> None:
    task = load_tasks(split="train", limit=1)[0]
    env = make_env(task)
    obs, info = env.reset()
    assert obs.startswith(WELCOME + "\n\nYou are in the middle of a room. Looking quickly around you, you see a ")
    assert obs.endswith("\n\n" + task.instruction)
    assert task.instruction.startswith("Your task is to: ")
    assert "look" in info["admissible_actions"] and "help" in info["admissible_actions"]
    assert info["admissible_actions"] == sorted(info["admissible_actions"])
    assert env.step("inventory")[0] == "You are not carrying anything."
    assert env.step("help")[0].startswith("Available commands:")


def test_openable_receptacles_read_like_alfworld() -> None:
    for task in load_tasks(split="train", limit=30):
        env = make_env(task)
        env.reset()
        world = env.world
        closed = [r for r in world.layout.receptacles if world.kind(r) in OPENABLE and not world.is_open(r)]
        surface = [r for r in world.layout.receptacles if world.kind(r) not in OPENABLE]
        if not closed:
            continue
        recep = closed[0]
        assert env.step(f"go to {recep}")[0] == f"You arrive at {recep}. The {recep} is closed."
        opened = env.step(f"open {recep}")[0]
        assert opened.startswith(f"You open the {recep}. The {recep} is open. In it, you see ")
        assert env.step(f"close {recep}")[0] == f"You close the {recep}."
        assert env.step("look")[0] == f"You are facing the {recep}. Next to it, you see nothing."
        arrive = env.step(f"go to {surface[0]}")[0]
        assert arrive.startswith(f"You arrive at {surface[0]}. On the {surface[0]}, you see ")
        return
    pytest.fail("no task with a closed receptacle")


def test_every_admissible_action_is_accepted() -> None:
    rng = random.Random(11)
    for task in load_tasks(split="valid_seen", limit=30):
        env = make_env(task, max_steps=1000)
        _, info = env.reset()
        for _ in range(15):
            snap = env.snapshot()
            for action in info["admissible_actions"]:
                assert env.step(action)[0] != NOTHING, (task.task_id, action)
                env.restore(snap)
            _, _, _, _, info = env.step(rng.choice(info["admissible_actions"]))


def test_other_commands_change_nothing() -> None:
    task = load_tasks(split="train", limit=1)[0]
    env = make_env(task)
    env.reset()
    here = env.world.layout.receptacles[0]
    env.step(f"go to {here}")
    before = env.world.signature()
    other = env.world.layout.receptacles[1]
    commands = [
        f"go to {here}",
        "go to cabinet 99",
        "open countertop 1",
        "fly to the moon",
        "take",
        f"take mug 1 from {other}",
        f"move apple 1 to {here}",
        "heat egg 1 with fridge 1",
        "use desklamp 7",
        f"examine {other}",
        "inventory please",
        "go  to",
        "put mug 1 in",
        "clean with sinkbasin 1",
    ]
    for command in commands:
        assert command not in env.admissible_actions()
        obs, reward, terminated, _, _ = env.step(command)
        assert (obs, reward, terminated) == (NOTHING, 0.0, False), command
    assert env.world.signature() == before


@pytest.mark.parametrize(
    "action", ["", " \t\n ", "x" * 10240, "go to ☃ 1", "ΟΠΕΝ ΔΡΑΩΕΡ 1", "\x00\x01", "🙂" * 100, None, 42]
)
def test_bad_input_is_harmless(action: object) -> None:
    env = make_env(load_tasks(split="valid_seen", limit=1)[0])
    env.reset()
    before = env.world.signature()
    obs, reward, terminated, truncated, info = env.step(action)  # type: ignore[arg-type]
    assert obs == NOTHING and reward == 0.0 and not terminated and not truncated
    assert env.world.signature() == before and info["admissible_actions"]


def test_episode_truncates_at_max_steps() -> None:
    task = load_tasks(split="train", limit=1)[0]
    for max_steps, env in ((50, make_env(task)), (5, make_env(task, max_steps=5))):
        env.reset()
        flags = [env.step("look")[3] for _ in range(max_steps)]
        assert flags == [False] * (max_steps - 1) + [True]


def test_snapshot_restore_gives_identical_continuations() -> None:
    rng = random.Random(2)
    for task in load_tasks(split="valid_unseen", limit=20):
        env = make_env(task, max_steps=100)
        _random_walk(env, rng, 10)
        snap = env.snapshot()
        continuation: list[str] = []
        first = []
        info = {"admissible_actions": env.admissible_actions()}
        for _ in range(20):
            action = rng.choice(info["admissible_actions"])
            continuation.append(action)
            out = env.step(action)
            first.append(out)
            info = out[4]
        for _ in range(2):
            env.restore(snap)
            assert [env.step(a) for a in continuation] == first
    other = make_env(load_tasks(split="train", limit=1)[0])
    with pytest.raises(ValueError, match="snapshot"):
        other.restore(snap)


def test_reset_restores_the_initial_state() -> None:
    env = make_env(load_tasks(split="train", limit=3)[2])
    first = env.reset()
    for action in expert_plan(env):
        env.step(action)
    assert env.won
    assert env.reset() == first and not env.won and env.steps == 0


def test_unseen_combinations_never_appear_in_train_or_valid_seen() -> None:
    seen = {_combo(t) for split in ("train", "valid_seen") for t in load_tasks(split=split)}
    unseen = {_combo(t) for t in load_tasks(split="valid_unseen")}
    assert not seen & unseen
    assert all(is_unseen(*c) for c in unseen) and not any(is_unseen(*c) for c in seen)
    assert {c[0] for c in unseen} == set(TASK_TYPES)


def test_think_answers_ok_and_changes_nothing() -> None:
    env = make_env(load_tasks(split="train", limit=1)[0])
    _, info = env.reset()
    before = env.world.signature()
    obs, reward, terminated, truncated, after = env.step("think: First I need to find a mug.")
    assert (obs, reward, terminated, truncated) == ("OK.", 0.0, False, False)
    assert env.world.signature() == before
    assert after["admissible_actions"] == info["admissible_actions"]


def test_look_task_needs_the_object_in_hand_when_the_lamp_is_on() -> None:
    task = next(t for t in load_tasks(split="train", limit=12) if t.data["task_type"] == "look_at_obj_in_light")
    env = make_env(task)
    env.reset()
    plan = expert_plan(env)
    use = plan[-1]
    assert use.startswith("use ")
    lamp = use.removeprefix("use ")
    spot = env.world.where(lamp)
    assert env.step(f"go to {spot}")[0].startswith(f"You arrive at {spot}.")
    obs, reward, terminated, *_ = env.step(use)
    assert obs == f"You turn on the {lamp}." and reward == 0.0 and not terminated


def test_objects_in_closed_receptacles_cannot_be_taken_until_opened() -> None:
    for task in load_tasks(split="train", limit=60):
        env = make_env(task)
        env.reset()
        world = env.world
        hidden = [(r, o) for r, objs in world.contents.items() for o in objs if not world.is_open(r)]
        if not hidden:
            continue
        recep, obj = hidden[0]
        arrive = env.step(f"go to {recep}")[0]
        assert arrive == f"You arrive at {recep}. The {recep} is closed." and obj not in arrive
        assert env.step(f"take {obj} from {recep}")[0] == NOTHING
        assert obj in env.step(f"open {recep}")[0]
        assert env.step(f"take {obj} from {recep}")[0] == f"You pick up the {obj} from the {recep}."
        return
    pytest.fail("no task with an object in a closed receptacle")


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ("go to cabinet 1", "go to cabinet 1"),
        ("> go to cabinet 1", "go to cabinet 1"),
        ("  >  Go To   Cabinet 1  ", "go to cabinet 1"),
        ("Action: take mug 1 from countertop 2", "take mug 1 from countertop 2"),
        ("> Action: open drawer 3", "open drawer 3"),
        ("\n\n  think: I need a mug.\nOK.", "think: i need a mug."),
        ("", ""),
        ("   \n\t\n", ""),
        ("move\tmug 1  to coffeemachine 1\n> look", "move mug 1 to coffeemachine 1"),
    ],
)
def test_parse_action(reply: str, action: str) -> None:
    assert parse_action(reply) == action


def test_transcript_prompt_holds_react_examples_from_train() -> None:
    prompt = hh.build_system_prompt()
    assert prompt.count(WELCOME) == 2
    assert "> think: " in prompt and "\nOK.\n" in prompt and "> go to " in prompt
    assert "Nothing happens." in prompt


def test_few_shot_turns_alternate_and_replay_in_the_env() -> None:
    turns = hh.FEW_SHOT
    roles = [t["role"] for t in turns]
    assert roles[0] == "user" and roles[-1] == "assistant"
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert sum(WELCOME in t["content"] for t in turns) == 2
    actions = [t["content"] for t in turns if t["role"] == "assistant"]
    assert any(a.startswith("think: ") for a in actions) and any(a.startswith("go to ") for a in actions)
    assert "Nothing happens." in hh.SYSTEM_PROMPT and WELCOME not in hh.SYSTEM_PROMPT


def test_heating_cooling_and_cleaning_change_the_object_state() -> None:
    task = next(t for t in load_tasks(split="train", limit=12) if t.data["task_type"] == "pick_heat_then_place")
    env = make_env(task)
    env.reset()
    plan = expert_plan(env)
    heat = next(i for i, a in enumerate(plan) if a.startswith("heat "))
    for action in plan[:heat]:
        env.step(action)
    obj = env.world.holding
    assert obj is not None and env.step(f"examine {obj}")[0] == f"There's nothing special about {obj}."
    assert env.step(plan[heat])[0] == f"You heat the {obj} using the {env.world.location}."
    assert env.step(f"examine {obj}")[0] == f"This is a hot {obj}."
    assert env.step(f"take {obj} from {env.world.location}")[0] == NOTHING


def test_put_in_is_accepted_as_alfworld_move() -> None:
    env = make_env(load_tasks(split="train", limit=1)[0])
    env.reset()
    plan = expert_plan(env)
    for action in plan[:-1]:
        env.step(action)
    obj, recep = plan[-1].removeprefix("move ").split(" to ")
    obs, reward, terminated, *_ = env.step(f"put {obj} in/on {recep}")
    assert obs == f"You move the {obj} to the {recep}." and reward == 1.0 and terminated


def test_tasks_load_from_a_file_of_headers(tmp_path):
    from environments.household import HouseholdEnv, expert_plan, load_tasks, make_task

    built_in = make_task("valid_unseen", 3)
    header = {k: built_in.data[k] for k in ("task_type", "object", "target", "room", "seed", "task_text")}
    lines = [
        {"split": "valid_unseen", "index": 3},
        {**header, "task_id": "mine/heat", "split": "mine"},
        {"task_type": "pick_and_place", "object": built_in.data["object"], "target": built_in.data["target"],
         "room": built_in.data["room"], "seed": 7},
    ]  # fmt: skip
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    tasks = load_tasks(str(path))
    assert [t.task_id for t in tasks] == ["valid_unseen/0003", "mine/heat", "tasks/0003"]
    assert tasks[0] == built_in
    assert tasks[1].instruction == built_in.instruction
    assert HouseholdEnv(tasks[1]).reset()[0] == HouseholdEnv(built_in).reset()[0]  # same header, same game
    assert [t.task_id for t in load_tasks(str(path), "mine")] == ["mine/heat"]
    for task in tasks:
        assert expert_plan(HouseholdEnv(task))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"tasks.jsonl:1: not valid JSON"),
        ('{"task_type": "pick_and_place"}', r"tasks.jsonl:1: missing object, target, room, seed"),
        (
            '{"task_type": "juggle", "object": "apple", "target": "fridge", "room": "kitchen", "seed": 1}',
            r"unknown task_type 'juggle'",
        ),
        (
            '{"task_type": "pick_and_place", "object": "apple", "target": "fridge", "room": "attic", "seed": 1}',
            r"unknown room 'attic'",
        ),
        (
            '{"task_type": "pick_and_place", "object": "laptop", "target": "fridge", "room": "kitchen", "seed": 1}',
            r"cannot happen in a kitchen",
        ),
        (
            '{"task_type": "pick_and_place", "object": "apple", "target": "fridge", "room": "kitchen", "seed": "x"}',
            r"seed must be an integer",
        ),
        ('{"split": "valid_unseen", "index": 999}', r"has tasks 0..133"),
    ],
)
def test_a_malformed_task_line_is_a_clean_error(tmp_path, line, message):
    from environments.household import load_tasks
    from environments.task_files import TaskFileError

    path = tmp_path / "tasks.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(TaskFileError, match=message):
        load_tasks(str(path))


def test_a_suite_can_name_task_types_and_keeps_the_split_order():
    from environments.household import load_tasks, make_task

    heat = load_tasks("alfworld-like:pick_heat_then_place", "valid_unseen", 5)
    assert [t.data["task_type"] for t in heat] == ["pick_heat_then_place"] * 5
    everything = [make_task("valid_unseen", i) for i in range(40)]
    assert heat == [t for t in everything if t.data["task_type"] == "pick_heat_then_place"][:5]
    two = load_tasks("alfworld-like:pick_and_place,pick_cool_then_place", "train", 4)
    assert [t.data["task_type"] for t in two] == ["pick_and_place", "pick_cool_then_place"] * 2
    with pytest.raises(ValueError, match="unknown task type juggle"):
        load_tasks("alfworld-like:juggle")
