"""The adapter registry: every trained LoRA adapter with its data, base model, hyperparameters and eval results.

It lives in its own `adapters` table inside the run store's SQLite file (`kintsugi.db`), created on first use,
so one file holds the trajectories and the adapters trained from them.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.store import STORE_NAME

_SCHEMA = """
CREATE TABLE IF NOT EXISTS adapters (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_model TEXT NOT NULL,
    data TEXT NOT NULL,
    data_sha256 TEXT,
    num_examples INTEGER NOT NULL DEFAULT 0,
    hyperparameters TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    evals TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS adapters_path ON adapters(path);
"""


class RegistryError(LookupError):
    """An adapter the registry does not know."""


@dataclass(frozen=True)
class AdapterRecord:
    """One registered adapter."""

    id: str
    """Registry id (`adapter-YYYYmmdd-HHMMSS-xxxxxx`)."""
    path: str
    """Absolute path of the PEFT adapter folder."""
    kind: str
    """How it was trained: `sft`, `dpo`, or another method's name."""
    base_model: str
    """The base model it applies to (`smollm2` or a path)."""
    data: str
    """The training data's source (file, folder, or store#run)."""
    data_sha256: str | None = None
    """Digest of the training records."""
    num_examples: int = 0
    """Examples trained on."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """The training configuration."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Training metrics (losses, reward margins, seconds)."""
    evals: dict[str, Any] = field(default_factory=dict)
    """Evaluation results by name (e.g. `easy/test`: {pass@1: ...}), added after training."""
    created: float = 0.0
    """Unix time of registration."""


class AdapterRegistry:
    """Adapters in the `adapters` table of a store file; pass a `Store`, a `.db` path, or a run directory."""

    def __init__(self, target: Any) -> None:
        db = getattr(target, "db", None)
        if isinstance(db, sqlite3.Connection):
            self.db = db
            self._owned = False
        else:
            path = Path(target)
            if path.suffix != ".db":
                path = path / STORE_NAME
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self._owned = True
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        if self._owned:
            self.db.close()

    def __enter__(self) -> AdapterRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(
        self,
        *,
        path: str,
        kind: str,
        base_model: str,
        data: str,
        data_sha256: str | None = None,
        num_examples: int = 0,
        hyperparameters: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        adapter_id: str | None = None,
    ) -> AdapterRecord:
        """Record a trained adapter; returns its record."""
        adapter_id = adapter_id or f"adapter-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.db.execute(
            "INSERT INTO adapters (id, path, kind, base_model, data, data_sha256, num_examples, hyperparameters,"
            " metrics, evals, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?)",
            (
                adapter_id,
                str(Path(path).resolve()),
                kind,
                base_model,
                data,
                data_sha256,
                num_examples,
                json.dumps(hyperparameters or {}, default=str),
                json.dumps(metrics or {}, default=str),
                time.time(),
            ),
        )
        return self.get(adapter_id)

    def add_eval(self, adapter_id: str, name: str, results: dict[str, Any]) -> AdapterRecord:
        """Attach evaluation results (e.g. a benchmark's pass@1) to an adapter under `name`."""
        record = self.get(adapter_id)
        evals = {**record.evals, name: results}
        self.db.execute("UPDATE adapters SET evals = ? WHERE id = ?", (json.dumps(evals, default=str), record.id))
        return self.get(record.id)

    def get(self, id_or_path: str) -> AdapterRecord:
        """The adapter with this id, or the latest one registered for this folder."""
        row = self.db.execute("SELECT * FROM adapters WHERE id = ?", (id_or_path,)).fetchone()
        if row is None:
            resolved = str(Path(id_or_path).resolve())
            row = self.db.execute(
                "SELECT * FROM adapters WHERE path = ? ORDER BY created DESC LIMIT 1", (resolved,)
            ).fetchone()
        if row is None:
            raise RegistryError(f"no adapter {id_or_path!r} in the registry; `AdapterRegistry.list()` shows them")
        return _record(row)

    def list(self, *, base_model: str | None = None, kind: str | None = None) -> list[AdapterRecord]:
        """Registered adapters, oldest first, optionally for one base model or kind."""
        sql, args = "SELECT * FROM adapters WHERE 1=1", []
        if base_model is not None:
            sql += " AND base_model = ?"
            args.append(base_model)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [_record(r) for r in self.db.execute(sql + " ORDER BY created, id", args).fetchall()]


def _record(row: tuple[Any, ...]) -> AdapterRecord:
    (id_, path, kind, base, data, sha, n, hyper, metrics, evals, created) = row
    return AdapterRecord(
        id=id_,
        path=path,
        kind=kind,
        base_model=base,
        data=data,
        data_sha256=sha,
        num_examples=n,
        hyperparameters=json.loads(hyper),
        metrics=json.loads(metrics),
        evals=json.loads(evals),
        created=created,
    )
