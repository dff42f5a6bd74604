"""Sanity checks for the hand-written `easy` code task suite (environments/code/data/easy.jsonl).

The suite is plain HumanEval-format jsonl, so it is loaded with `json` only (no project imports).
Every canonical solution must pass its own tests, and a `return None` stub must fail them, so each
task's tests really test something. Programs run in one subprocess, each in a fresh namespace.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[1] / "environments" / "code" / "data" / "easy.jsonl"

KEYS = {
    "task_id",
    "prompt",
    "entry_point",
    "canonical_solution",
    "test",
    "split",
    "category",
    "difficulty",
}
CATEGORIES = {"strings", "lists", "dicts", "math", "parsing"}
DIFFICULTIES = {"easy", "medium"}
SPLITS = {"train", "test"}

# Runs each program (read as a JSON list from stdin) in a fresh namespace and prints a JSON list
# with None for a program that completed and the error text for one that raised.
_RUNNER = r"""
import json, sys
programs = json.load(sys.stdin)
results = []
for src in programs:
    try:
        exec(compile(src, "<task>", "exec"), {"__name__": "__task__"})
        results.append(None)
    except BaseException as exc:  # noqa: BLE001
        results.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    assert SUITE.is_file(), f"missing {SUITE}"
    rows = []
    with SUITE.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.strip(), f"blank line {n} in {SUITE.name}"
            rows.append(json.loads(line))
    return rows


def _run_all(programs: list[str]) -> list[str | None]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(programs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(programs)
    return results


def _program(task: dict, body: str) -> str:
    return task["prompt"] + body + "\n" + task["test"] + f"\ncheck({task['entry_point']})\n"


def test_size_and_ids(tasks):
    assert len(tasks) >= 160
    ids = [t["task_id"] for t in tasks]
    assert ids == [f"easy/{i:03d}" for i in range(len(tasks))]
    entry_points = [t["entry_point"] for t in tasks]
    dupes = sorted(e for e, c in Counter(entry_points).items() if c > 1)
    assert not dupes, f"duplicate entry points: {dupes}"


def test_keys_and_types(tasks):
    for t in tasks:
        tid = t.get("task_id")
        assert set(t) == KEYS, f"{tid}: keys {sorted(t)}"
        assert all(isinstance(t[k], str) and t[k] for k in KEYS), tid
        assert t["split"] in SPLITS, tid
        assert t["category"] in CATEGORIES, tid
        assert t["difficulty"] in DIFFICULTIES, tid
        assert t["entry_point"].isidentifier(), tid
        assert re.search(rf"^def {t['entry_point']}\(", t["prompt"], flags=re.M), tid
        assert t["prompt"].rstrip(" ").endswith('"""\n'), f"{tid}: prompt must end after the docstring"
        assert ">>> " in t["prompt"], f"{tid}: prompt has no example"
        assert t["canonical_solution"].startswith("    "), f"{tid}: body must be indented 4 spaces"
        assert "def check(candidate):" in t["test"], tid
        n_asserts = len(re.findall(r"^\s*assert\b", t["test"], flags=re.M))
        assert n_asserts >= 4, f"{tid}: only {n_asserts} asserts"


def test_splits_and_categories(tasks):
    splits = Counter(t["split"] for t in tasks)
    assert splits["train"] > 0 and splits["test"] > 0
    assert 0.5 <= splits["train"] / len(tasks) <= 0.7, splits
    cats = Counter(t["category"] for t in tasks)
    assert set(cats) == CATEGORIES
    assert min(cats.values()) >= 28, cats
    diffs = Counter(t["difficulty"] for t in tasks)
    assert set(diffs) == DIFFICULTIES
    assert 0.5 <= diffs["easy"] / len(tasks) <= 0.7, diffs
    for split in SPLITS:
        for cat in CATEGORIES:
            for diff in DIFFICULTIES:
                assert any(t["split"] == split and t["category"] == cat and t["difficulty"] == diff for t in tasks), (
                    f"no {diff} {cat} task in {split}"
                )


def test_canonical_solutions_pass(tasks):
    results = _run_all([_program(t, t["canonical_solution"]) for t in tasks])
    failed = [f"{t['task_id']} ({t['entry_point']}): {err}" for t, err in zip(tasks, results, strict=True) if err]
    assert not failed, "canonical solutions failing:\n" + "\n".join(failed)


def test_stub_solutions_fail(tasks):
    results = _run_all([_program(t, "    return None\n") for t in tasks])
    passed = [f"{t['task_id']} ({t['entry_point']})" for t, err in zip(tasks, results, strict=True) if err is None]
    assert not passed, "a `return None` stub passes these tasks:\n" + "\n".join(passed)
