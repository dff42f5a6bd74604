"""Seeded generation of tools tasks and the train / test splits.

A task is named by (split, index). Its template comes from the split's schedule (the templates of
`TEMPLATE_TASKS` taken in turn, so any prefix of a split mixes them), its seed is a hash of its name, and that
seed draws a world and the template's entities (drawing again while the instruction repeats an earlier one of the
split), then 2-4 distractor tools offered beside the needed ones. The test split has templates train never has
(tool combinations unseen in training) and, for the shared templates, only entities held out of train
(`templates.held_out`).

A task's data: `split`, `index`, `seed`, `template`, `world_seed` (the world is `build_world(world_seed)`), `needed`
(tools the task is about) and `tools` (those offered, distractors included, in order), `kind` (`act`, `ask`,
`refuse`) and `missing` (what an ask task lacks), the expert's `calls` and `answer`, and the checks: `answer_checks`
(groups of phrases, one of each group in the answer) and `text_checks` (phrases a message or file must contain).
"""

from __future__ import annotations

import hashlib
import random
from functools import cache
from typing import Any

from environments.base import TaskSpec
from environments.tools.templates import TEMPLATES
from environments.tools.tools import TOOLS
from environments.tools.world import build_world

SUITE = "apis"
"""The one built-in suite."""
TEMPLATE_TASKS: dict[str, tuple[int, int]] = {
    # template: (train tasks, test tasks)   -- tools the expert calls
    "fact": (20, 6),  # facts_lookup
    "convert": (20, 6),  # convert_units
    "calculate": (20, 6),  # calculate
    "message": (20, 6),  # contacts_search -> messages_send
    "add_event": (20, 6),  # calendar_add
    "delete_event": (20, 6),  # calendar_list -> calendar_delete
    "order": (20, 6),  # shop_search -> shop_order
    "cancel_order": (20, 6),  # orders_list -> order_cancel
    "price": (20, 6),  # shop_search -> calculate
    "ask_date": (20, 6),  # none: ask for the date
    "refuse": (20, 6),  # none: no offered tool can do it
    "add_contact": (20, 0),  # contacts_add
    "read_file": (20, 0),  # files_read
    "write_file": (20, 0),  # files_write
    "ask_quantity": (20, 0),  # none: ask how many
    "fact_to_file": (0, 12),  # facts_lookup -> files_write
    "price_message": (0, 11),  # shop_search -> calculate -> contacts_search -> messages_send
    "file_message": (0, 11),  # files_read -> contacts_search -> messages_send
}
"""How many tasks of each template each split has; 0: never in that split."""
SPLITS = ("train", "test")
"""The split names, in `TEMPLATE_TASKS`' column order."""
SPLIT_SIZES: dict[str, int] = {s: sum(counts[i] for counts in TEMPLATE_TASKS.values()) for i, s in enumerate(SPLITS)}
"""Tasks per split (300 train, 100 test)."""
DISTRACTORS = (2, 4)
"""Fewest and most tools offered that a task does not need (at least 3 when it needs none)."""
MAX_WORLDS = 200
"""Worlds drawn for one task before giving up (a template finds nothing to use in a world it cannot use)."""


def seed_for(split: str, index: int) -> int:
    """The generation seed of task `index` of `split` (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f"tools/{split}/{index}".encode()).digest()[:8], "big") % 2**63


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown tools split {split!r}; known splits: {', '.join(SPLITS)}")


@cache
def schedule(split: str) -> tuple[str, ...]:
    """The template of each task of `split`, in order: one of each template in turn while it has tasks left."""
    _check_split(split)
    left = {t: counts[SPLITS.index(split)] for t, counts in TEMPLATE_TASKS.items()}
    out: list[str] = []
    while any(left.values()):
        for template, n in left.items():
            if n:
                out.append(template)
                left[template] = n - 1
    return tuple(out)


def _offered(rng: random.Random, needed: tuple[str, ...]) -> list[str]:
    low, high = DISTRACTORS
    others = sorted(set(TOOLS) - set(needed))
    tools = [*needed, *rng.sample(others, rng.randint(max(low, 3 - len(needed)), high))]
    rng.shuffle(tools)
    return tools


def _make(split: str, index: int, taken: set[str]) -> TaskSpec:
    """Task `index` of `split`, its instruction not among `taken` (the instructions before it in its split)."""
    template = schedule(split)[index]
    seed = seed_for(split, index)
    rng = random.Random(seed)
    for _ in range(MAX_WORLDS):
        world_seed = rng.getrandbits(63)
        draft = TEMPLATES[template](rng, build_world(world_seed), split == "test")
        if draft is not None and draft.instruction not in taken:
            break
    else:
        raise RuntimeError(f"template {template!r} found nothing new to use in {MAX_WORLDS} worlds")
    data: dict[str, Any] = {
        "split": split,
        "index": index,
        "seed": seed,
        "template": template,
        "world_seed": world_seed,
        "needed": list(draft.tools()),
        "tools": _offered(rng, draft.tools()),
        "kind": draft.kind,
        "missing": draft.missing,
        "calls": [c.to_dict() for c in draft.calls],
        "answer": draft.answer,
        "answer_checks": [list(group) for group in draft.answer_checks],
        "text_checks": {k: list(v) for k, v in draft.text_checks.items()},
    }
    return TaskSpec(task_id=f"tools/{split}/{index:04d}", instruction=draft.instruction, data=data)


@cache
def _split_tasks(split: str) -> tuple[TaskSpec, ...]:
    taken: set[str] = set()
    tasks = []
    for index in range(SPLIT_SIZES[split]):
        task = _make(split, index, taken)
        taken.add(task.instruction)
        tasks.append(task)
    return tuple(tasks)


def make_task(split: str, index: int) -> TaskSpec:
    """Task `index` of `split`; its data holds all the episode is rebuilt from.

    No two tasks of a split have the same instruction, so the split is made in order (once, then cached).
    """
    _check_split(split)
    if not 0 <= index < SPLIT_SIZES[split]:
        raise ValueError(f"tools split {split!r} has tasks 0..{SPLIT_SIZES[split] - 1}, not {index}")
    return _split_tasks(split)[index]


def load_tasks(suite: str | None = None, split: str | None = None, limit: int | None = None) -> list[TaskSpec]:
    """Tasks of a suite and split (defaults: `apis`, `train`), the first `limit` of them."""
    suite = SUITE if suite is None else suite
    if suite != SUITE:
        raise ValueError(f"unknown tools suite {suite!r}; known suites: {SUITE}")
    split = "train" if split is None else split
    _check_split(split)
    n = SPLIT_SIZES[split]
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        n = min(n, limit)
    return [make_task(split, i) for i in range(n)]
