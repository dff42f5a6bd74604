"""Checks of the generated `graded` code suite (environments/code/graded.py -> data/graded.jsonl).

Model-free. The file must equal the generator's output; the splits, tiers and families must have the documented
shape; and inside Kintsugi's sandbox (the warm grader, as `kintsugi grade` runs it) every canonical solution must
pass its own tests while a `return None` stub and a stub returning the first argument unchanged must fail them, so
each task's tests really test something.
"""

from __future__ import annotations

import ast
import re
from collections import Counter

import pytest

from environments.code import graded
from environments.code.grading import build_program
from environments.code.tasks import BUILTIN_SUITES, TaskFileError, load_code_tasks, suite_path
from sandboxes import Limits, WarmPool

KEYS = {"prompt", "entry_point", "canonical_solution", "test", "split", "tier", "family"}
TIERS = (1, 2, 3, 4)
LIMITS = Limits(timeout=5, cpu_seconds=5, memory_mb=256)


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    """Every task as loaded through the suite loader, with its task_id added back."""
    return [{"task_id": t.task_id, **t.data} for t in load_code_tasks("graded")]


@pytest.fixture(scope="module")
def grades(tasks: list[dict]) -> dict[str, list[bool]]:
    """Pass/fail of the canonical solution and of two wrong stubs on every task, each graded in one batch."""
    bodies = {
        "canonical": [t["canonical_solution"] for t in tasks],
        "none": ["    return None\n" for _ in tasks],
        "first_arg": [f"    return {first_param(t['prompt'], t['entry_point'])}\n" for t in tasks],
    }
    with WarmPool(2, LIMITS) as pool:
        return {kind: grade(pool, tasks, bs) for kind, bs in bodies.items()}


def grade(pool: WarmPool, tasks: list[dict], bodies: list[str]) -> list[bool]:
    """Whether each body passes its task's tests, run exactly as `kintsugi grade` runs a completion."""
    programs = [
        build_program("", t["prompt"] + body, t["test"], t["entry_point"])
        for t, body in zip(tasks, bodies, strict=True)
    ]
    return [r.ok for r in pool.run_many(programs, LIMITS)]


def first_param(prompt: str, entry_point: str) -> str:
    fn = next(n for n in ast.parse(prompt).body if isinstance(n, ast.FunctionDef) and n.name == entry_point)
    return fn.args.args[0].arg


def test_registered_and_regenerates_identically(tasks):
    assert "graded" in BUILTIN_SUITES
    path = suite_path("graded")
    assert path == graded.SUITE_FILE
    assert path.read_text(encoding="utf-8") == graded.render(), "stale: python -m environments.code.graded --write"
    assert graded.main(["--check"]) == 0


def test_ids_keys_and_format(tasks):
    assert 400 <= len(tasks) <= 500
    assert [t["task_id"] for t in tasks] == [f"graded/{i:03d}" for i in range(len(tasks))]
    entry_points = [t["entry_point"] for t in tasks]
    assert len(set(entry_points)) == len(entry_points)
    for t in tasks:
        tid = t["task_id"]
        assert set(t) == KEYS | {"task_id"}, tid
        assert t["split"] in ("train", "test") and t["tier"] in TIERS, tid
        assert re.search(rf"^def {t['entry_point']}\(", t["prompt"], flags=re.M), tid
        assert t["prompt"].endswith('    """\n') and 1 <= t["prompt"].count(">>> ") <= 2, tid
        assert t["canonical_solution"].startswith("    "), tid
        assert t["test"].startswith("def check(candidate):\n"), tid
        assert 3 <= len(re.findall(r"^    assert ", t["test"], flags=re.M)) <= 6, tid
        tree = ast.parse(t["prompt"] + t["canonical_solution"])
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        assert all(isinstance(n, ast.ImportFrom) and n.module == "typing" for n in imports), f"{tid}: not only typing"


def test_splits_loaded_separately(tasks):
    train = load_code_tasks("graded", "train")
    test = load_code_tasks("graded", "test")
    assert len(train) + len(test) == len(tasks)
    assert {t.data["split"] for t in train} == {"train"} and {t.data["split"] for t in test} == {"test"}


def test_a_tier_list_keeps_those_tiers_in_split_order(tasks):
    test = load_code_tasks("graded", "test")
    easy = load_code_tasks("graded:1-2", "test")
    assert [t.task_id for t in easy] == [t.task_id for t in test if t.data["tier"] in (1, 2)]
    assert [t.task_id for t in load_code_tasks("graded:2,1", "test")] == [t.task_id for t in easy]
    assert {t.data["tier"] for t in load_code_tasks("graded:4", "train")} == {4}
    for bad in ("graded:5", "graded:", "graded:1-x", "graded:one"):
        with pytest.raises(TaskFileError, match="tier"):
            load_code_tasks(bad)


def test_tiers_and_split_proportions(tasks):
    per_tier = Counter(t["tier"] for t in tasks)
    assert set(per_tier) == set(TIERS)
    assert max(per_tier.values()) <= 1.2 * min(per_tier.values()), per_tier
    for tier in TIERS:
        rows = [t for t in tasks if t["tier"] == tier]
        share = sum(t["split"] == "train" for t in rows) / len(rows)
        assert 0.55 <= share <= 0.65, (tier, share)
    share = sum(t["split"] == "train" for t in tasks) / len(tasks)
    assert 0.57 <= share <= 0.63, share


def test_families_in_both_splits(tasks):
    families = {t["family"] for t in tasks}
    assert 50 <= len(families) <= 80
    for family in families:
        rows = [t for t in tasks if t["family"] == family]
        assert len({t["tier"] for t in rows}) == 1, family
        assert {t["split"] for t in rows} == {"train", "test"}, family


def test_split_rule_is_the_documented_one(tasks):
    seen: Counter[str] = Counter()
    for t in sorted(tasks, key=lambda t: t["task_id"]):
        index = seen[t["family"]]
        seen[t["family"]] += 1
        assert t["split"] == ("test" if index % 5 in (1, 3) else "train"), t["task_id"]


def test_no_test_prompt_copies_a_train_prompt(tasks):
    def body(t: dict) -> str:
        return re.sub(rf"\b{t['entry_point']}\b", "f", t["prompt"])

    train = {body(t) for t in tasks if t["split"] == "train"}
    copies = [t["task_id"] for t in tasks if t["split"] == "test" and body(t) in train]
    assert not copies, copies


def test_canonical_solutions_pass_in_the_sandbox(tasks, grades):
    failed = [t["task_id"] for t, ok in zip(tasks, grades["canonical"], strict=True) if not ok]
    assert not failed, f"canonical solutions failing: {failed}"


@pytest.mark.parametrize("stub", ["none", "first_arg"])
def test_wrong_stubs_fail_in_the_sandbox(tasks, grades, stub):
    passed = [t["task_id"] for t, ok in zip(tasks, grades[stub], strict=True) if ok]
    assert not passed, f"the {stub} stub passes: {passed}"
