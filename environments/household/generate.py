"""Seeded generation of household games and the train / valid_seen / valid_unseen splits.

A task is named by (split, index). Its seed is a hash of that name, its task type cycles
through the six ALFWorld types, and its (task type, object, target) combination is drawn from
the combinations of its split: a fixed, hash-chosen ~20% of all combinations is reserved for
`valid_unseen` and never generated for `train` or `valid_seen`. Only the task header is made
when tasks are listed; the room itself is furnished when an environment is built.
"""

from __future__ import annotations

import hashlib
import random
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from environments.base import TaskSpec
from environments.household.vocab import (
    CLEANABLE,
    COOLABLE,
    HEATABLE,
    INTO,
    LAMPS,
    LIGHT_OBJECTS,
    OPENABLE,
    PLACES,
    ROOMS,
    TASK_TYPES,
    TOOL_FOR,
)
from environments.household.world import Goal, Layout, World

SUITE = "alfworld-like"
"""The one built-in suite."""
SPLIT_SIZES: dict[str, int] = {"train": 3000, "valid_seen": 140, "valid_unseen": 134}
"""Tasks per split (ALFWorld's two validation splits have 140 and 134 games)."""
UNSEEN_PERCENT = 20
"""Share of (task type, object, target) combinations reserved for `valid_unseen`."""
OPEN_AT_START = 0.1
"""Chance that an openable receptacle starts open."""

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_and_place": ("put a {o} {p} {r}.", "put some {o} {p} {r}."),
    "look_at_obj_in_light": ("look at {o} under the {r}.", "examine the {o} with the {r}."),
    "pick_clean_then_place": ("put a clean {o} {p} {r}.", "clean some {o} and put it {p} {r}."),
    "pick_heat_then_place": ("put a hot {o} {p} {r}.", "heat some {o} and put it {p} {r}."),
    "pick_cool_then_place": ("put a cool {o} {p} {r}.", "cool some {o} and put it {p} {r}."),
    "pick_two_obj_and_place": ("put two {o} {p} {r}.", "find two {o} and put them {p} {r}."),
}
_TRANSFORMABLE = {
    "pick_clean_then_place": CLEANABLE,
    "pick_heat_then_place": HEATABLE,
    "pick_cool_then_place": COOLABLE,
}


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def seed_for(split: str, index: int) -> int:
    """The generation seed of task `index` of `split` (stable across runs and machines)."""
    return _hash_int(f"household/{split}/{index}") % 2**63


def is_unseen(task_type: str, obj: str, target: str) -> bool:
    """Whether this combination is reserved for `valid_unseen`."""
    return _hash_int(f"unseen/{task_type}/{obj}/{target}") % 100 < UNSEEN_PERCENT


def _rooms_for(task_type: str, obj: str, target: str) -> tuple[str, ...]:
    rooms = []
    for room, tmpl in ROOMS.items():
        if obj not in tmpl.objects:
            continue
        if task_type == "look_at_obj_in_light":
            ok = target in tmpl.lamps and obj in LIGHT_OBJECTS and any(p in tmpl.receptacles for p in PLACES[obj])
        else:
            tool = TOOL_FOR.get(task_type)
            places = [p for p in PLACES[obj] if p in tmpl.receptacles]
            ok = (
                target in places
                and target != tool
                and (tool is None or (tool in tmpl.receptacles and obj in _TRANSFORMABLE[task_type]))
                and any(p != target for p in places)
            )
        if ok:
            rooms.append(room)
    return tuple(rooms)


@lru_cache(maxsize=1)
def combinations() -> dict[tuple[str, str, str], tuple[str, ...]]:
    """Every possible (task type, object type, target type) -> the room kinds it can happen in."""
    out: dict[tuple[str, str, str], tuple[str, ...]] = {}
    objects = sorted({o for t in ROOMS.values() for o in t.objects})
    receptacles = sorted({r for t in ROOMS.values() for r in t.receptacles})
    for task_type in TASK_TYPES:
        targets = LAMPS if task_type == "look_at_obj_in_light" else receptacles
        for obj in objects:
            for target in targets:
                rooms = _rooms_for(task_type, obj, target)
                if rooms:
                    out[(task_type, obj, target)] = rooms
    return out


@cache
def _combos_by_room(task_type: str, unseen: bool) -> dict[str, tuple[tuple[str, str, str], ...]]:
    """Room kind -> the combinations of `task_type` on one side of the seen/unseen divide.

    Rooms are drawn before combinations, so the kitchen's many combinations do not crowd out the other rooms.
    """
    out: dict[str, list[tuple[str, str, str]]] = {}
    for combo, rooms in combinations().items():
        if combo[0] == task_type and is_unseen(*combo) == unseen:
            for room in rooms:
                out.setdefault(room, []).append(combo)
    return {room: tuple(combos) for room, combos in out.items()}


def _check_split(split: str) -> None:
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown household split {split!r}; known splits: {', '.join(SPLIT_SIZES)}")


def task_text(task_type: str, obj: str, target: str, variant: int = 0) -> str:
    """The task sentence (without "Your task is to: ") in one of ALFWorld's two phrasings."""
    templates = _TEMPLATES[task_type]
    prep = "in" if target in INTO else "on"
    return templates[variant % len(templates)].format(o=obj, p=prep, r=target)


@lru_cache(maxsize=8192)
def make_task(split: str, index: int) -> TaskSpec:
    """Task `index` of `split`: its header only (instruction and generation data), no room yet."""
    _check_split(split)
    if not 0 <= index < SPLIT_SIZES[split]:
        raise ValueError(f"household split {split!r} has tasks 0..{SPLIT_SIZES[split] - 1}, not {index}")
    seed = seed_for(split, index)
    rng = random.Random(seed)
    task_type = TASK_TYPES[index % len(TASK_TYPES)]
    by_room = _combos_by_room(task_type, split == "valid_unseen")
    room = rng.choice(sorted(by_room))
    combo = rng.choice(by_room[room])
    text = task_text(*combo, variant=rng.randrange(2))
    data: dict[str, Any] = {
        "split": split,
        "index": index,
        "seed": seed,
        "task_type": task_type,
        "object": combo[1],
        "target": combo[2],
        "room": room,
        "task_text": text,
    }
    return TaskSpec(task_id=f"{split}/{index:04d}", instruction=f"Your task is to: {text}", data=data)


HEADER_FIELDS = ("task_type", "object", "target", "room", "seed")
"""What a task line of a household task file must give (or `split` and `index` of a built-in task)."""


def task_from_header(header: dict[str, Any], task_id: str) -> TaskSpec:
    """A task from its header (`task_type`, `object`, `target`, `room`, `seed`; optional `task_text` or `variant`).

    ValueError says what is wrong: an unknown task type or room, or a combination no room of that kind can hold.
    """
    if "split" in header and "index" in header and not any(k in header for k in HEADER_FIELDS):
        split, index = header["split"], header["index"]
        if not isinstance(index, int):
            raise ValueError(f"index must be an integer, got {index!r}")
        return make_task(split, index)
    missing = [k for k in HEADER_FIELDS if k not in header]
    if missing:
        raise ValueError(
            f"missing {', '.join(missing)}; give {', '.join(HEADER_FIELDS)} (or split and index of a built-in task)"
        )
    task_type, obj, target, room, seed = (header[k] for k in HEADER_FIELDS)
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task_type {task_type!r}; known: {', '.join(TASK_TYPES)}")
    if room not in ROOMS:
        raise ValueError(f"unknown room {room!r}; known: {', '.join(ROOMS)}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rooms = combinations().get((task_type, obj, target))
    if rooms is None or room not in rooms:
        where = f"only in: {', '.join(rooms)}" if rooms else "in no room"
        raise ValueError(f"{task_type} with object {obj!r} and target {target!r} cannot happen in a {room} ({where})")
    variant = header.get("variant", 0)
    text = header.get("task_text") or task_text(task_type, obj, target, variant if isinstance(variant, int) else 0)
    data: dict[str, Any] = {"split": header.get("split", "file"), "seed": seed, "task_type": task_type,
                            "object": obj, "target": target, "room": room, "task_text": text}  # fmt: skip
    task = TaskSpec(task_id=task_id, instruction=f"Your task is to: {text}", data=data)
    try:
        build_world(task)
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
    return task


def load_task_file(path: str | Path, split: str | None = None, limit: int | None = None) -> list[TaskSpec]:
    """Household tasks from a jsonl file of task headers (see `task_from_header`); TaskFileError names a bad line.

    Each task's id is its `task_id` when given, else `<file name>/<line number>`; with `split`, only lines whose
    `split` matches.
    """
    from environments.task_files import TaskFileError, read_jsonl

    file = Path(path)
    if not file.is_file():
        raise TaskFileError(f"task file {file} does not exist; pass a .jsonl file of household task headers")
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    stem = file.name.split(".")[0]
    for lineno, header in read_jsonl(file):
        task_id = str(header.get("task_id") or f"{stem}/{lineno:04d}")
        if task_id in seen:
            raise TaskFileError(f"{file}:{lineno}: duplicate task_id {task_id!r}")
        seen.add(task_id)
        try:
            task = task_from_header(header, task_id)
        except ValueError as exc:
            raise TaskFileError(f"{file}:{lineno}: {exc}") from None
        if split is None or task.data.get("split") == split:
            tasks.append(task)
    if not tasks:
        raise TaskFileError(f"{file} holds no tasks" + (f" of split {split!r}" if split else ""))
    return tasks[:limit] if limit else tasks


def load_tasks(suite: str | None = None, split: str | None = None, limit: int | None = None) -> list[TaskSpec]:
    """Tasks of a suite and split (defaults: `alfworld-like`, `train`), the first `limit` of them.

    `suite` may name task types too, `alfworld-like:pick_heat_then_place` (comma-separated: only those types, in
    split order), or be the path of a jsonl file of task headers (`load_task_file`).
    """
    from environments.task_files import is_task_file

    suite = SUITE if suite is None else suite
    types: tuple[str, ...] = ()
    if suite.startswith(SUITE + ":"):
        types = tuple(t.strip() for t in suite[len(SUITE) + 1 :].split(",") if t.strip())
        unknown = [t for t in types if t not in TASK_TYPES]
        if unknown or not types:
            raise ValueError(f"unknown task type {', '.join(unknown) or '(none)'} in suite {suite!r}; "
                             f"known: {', '.join(TASK_TYPES)}")  # fmt: skip
    elif suite != SUITE:
        if is_task_file(suite):
            return load_task_file(suite, split, limit)
        raise ValueError(
            f"unknown household suite {suite!r}; known suites: {SUITE} (or {SUITE}:<task type>[,<task type>...]), "
            "or a .jsonl file of task headers"
        )
    split = "train" if split is None else split
    _check_split(split)
    n = SPLIT_SIZES[split]
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        n = min(n, limit)
    if not types:
        return [make_task(split, i) for i in range(n)]
    tasks: list[TaskSpec] = []
    for i in range(SPLIT_SIZES[split]):
        if len(tasks) >= n:
            break
        if TASK_TYPES[i % len(TASK_TYPES)] in types:  # a task's type cycles with its index
            tasks.append(make_task(split, i))
    return tasks


def _furnish(rng: random.Random, room: str, required: set[str]) -> list[str]:
    counts: dict[str, int] = {}
    for rtype, (p, lo, hi) in ROOMS[room].receptacles.items():
        if rtype in required or rng.random() < p:
            counts[rtype] = rng.randint(lo, hi)
    return [f"{t} {i}" for t in sorted(counts) for i in range(1, counts[t] + 1)]


def _place(rng: random.Random, kind: dict[str, str], receps: list[str], obj_type: str, banned: set[str]) -> str | None:
    types = [t for t in PLACES[obj_type] if any(kind[r] == t and r not in banned for r in receps)]
    if not types:
        return None
    rtype = rng.choice(types)
    return rng.choice([r for r in receps if kind[r] == rtype and r not in banned])


def _attempt(rng: random.Random, data: dict[str, Any]) -> World | None:
    goal = Goal(data["task_type"], data["object"], data["target"])
    room = data["room"]
    tmpl = ROOMS[room]
    looking = goal.task_type == "look_at_obj_in_light"
    required = {goal.tool} if goal.tool else set()
    if not looking:
        required.add(goal.target)
    receps = _furnish(rng, room, required)
    kind = {r: r.rsplit(" ", 1)[0] for r in receps}
    contents: dict[str, list[str]] = {r: [] for r in receps}
    banned_for_goal = {r for r in receps if kind[r] == goal.target}

    lamp_types = [lt for lt in tmpl.lamps if (looking and lt == goal.target) or rng.random() < 0.3]
    for lamp_type in lamp_types:
        spot = _place(rng, kind, receps, lamp_type, set())
        if spot is None:
            if looking and lamp_type == goal.target:
                return None
            continue
        name = f"{lamp_type} 1"
        kind[name] = lamp_type
        contents[spot].append(name)
        if looking and lamp_type == goal.target:
            banned_for_goal = {spot}

    types = [t for t in tmpl.objects if t == goal.obj or (t not in LAMPS and rng.random() < 0.55)]
    for obj_type in types:
        n = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
        if obj_type == goal.obj and goal.count == 2:
            n = max(n, 2 + (rng.random() < 0.3))
        placed = 0
        for _ in range(n):
            spot = _place(rng, kind, receps, obj_type, banned_for_goal if obj_type == goal.obj else set())
            if spot is None:
                continue
            placed += 1
            name = f"{obj_type} {placed}"
            kind[name] = obj_type
            contents[spot].append(name)
        if obj_type == goal.obj and placed < goal.count:
            return None
    for objs in contents.values():
        rng.shuffle(objs)
    opened = {r for r in receps if kind[r] in OPENABLE and rng.random() < OPEN_AT_START}
    layout = Layout(room=room, receptacles=tuple(receps), kind=kind, goal=goal, task_text=data["task_text"])
    world = World(layout, contents, opened)
    return None if world.won() else world


@lru_cache(maxsize=256)
def _initial_world(seed: int, task_type: str, obj: str, target: str, room: str, text: str) -> World:
    data = {"seed": seed, "task_type": task_type, "object": obj, "target": target, "room": room, "task_text": text}
    rng = random.Random(seed ^ 0x5EED_5EED)
    for _ in range(200):
        world = _attempt(rng, data)
        if world is not None:
            return world
    raise RuntimeError(f"could not furnish a {room} for {task_type} {obj} -> {target} (seed {seed})")


def build_world(task: TaskSpec) -> World:
    """A fresh initial state of the task's game (deterministic given `task.data`)."""
    data = task.data
    missing = [k for k in ("seed", "task_type", "object", "target", "room", "task_text") if k not in data]
    if missing:
        raise ValueError(
            f"task {task.task_id!r} is not a household task (data lacks {', '.join(missing)}); "
            "get tasks from environments.household.load_tasks"
        )
    if data["task_type"] not in TASK_TYPES or data["room"] not in ROOMS:
        raise ValueError(f"task {task.task_id!r} names an unknown task type or room: {data}")
    return _initial_world(
        int(data["seed"]), data["task_type"], data["object"], data["target"], data["room"], data["task_text"]
    ).copy()
