"""Task files: jsonl (optionally gzipped), one task per line, with errors that name the file and the line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from environments.base import EnvInputError


class TaskFileError(EnvInputError, ValueError):
    """A task file is missing or malformed; the message names the file, line and fix."""


def read_jsonl(path: Path, error: type[Exception] = TaskFileError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a jsonl[.gz] file; a malformed line raises `error` naming
    the file and the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove that line") from None
                if not isinstance(obj, dict):
                    raise error(f"{path}:{lineno}: expected one JSON object per line, got {type(obj).__name__}")
                yield lineno, obj
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {path}: {exc}") from None


def is_task_file(suite: str) -> bool:
    """Whether a suite name is meant as a file path (a jsonl name, or a path that exists)."""
    return suite.endswith((".jsonl", ".jsonl.gz", ".json")) or Path(suite).exists()
