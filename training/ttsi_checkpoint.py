"""TT-SI's checkpoints: a `kintsugi tt-si --out OUT` run keeps each input's report in OUT's store the moment that
input finishes, so an interrupted run continues with `--resume` and runs only the inputs it had not finished.

An input is TT-SI's finest unit: its temporary LoRA is made and removed within it, so its report does not depend on
what ran before it (the same property lets Ray workers share a run's inputs). The stored report is the environment's
own report object on that one input (`TTSIResults`, pickled: Kintsugi's own dataclasses, read back by the same
version) beside its per-input rows as JSON for anyone reading the store.
"""

from __future__ import annotations

import json
import pickle
import time
from typing import Any

from agents.store import Store, StoreError
from training.ttsi import TTSIResults

SCHEMA = """
CREATE TABLE IF NOT EXISTS ttsi_inputs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    task_id TEXT NOT NULL,
    report BLOB NOT NULL,
    rows TEXT NOT NULL,
    seconds REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_id, task_id)
);
"""


class TTSICheckpoint:
    """The finished inputs of one TT-SI run (`run_id` in `store`)."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        store.db.executescript(SCHEMA)

    def finished(self) -> dict[str, TTSIResults]:
        """Task id -> that input's stored report."""
        rows = self.store.db.execute("SELECT task_id, report FROM ttsi_inputs WHERE run_id = ?", (self.run_id,))
        done: dict[str, TTSIResults] = {}
        for task_id, blob in rows:
            try:
                done[task_id] = pickle.loads(blob)
            except (pickle.UnpicklingError, AttributeError, ImportError, EOFError) as exc:
                raise StoreError(
                    f"run {self.run_id}'s stored TT-SI input {task_id} cannot be read back ({exc}); it was written "
                    "by another Kintsugi version: start a new run without --resume"
                ) from None
        return done

    def save(self, task_id: str, report: TTSIResults, seconds: float) -> None:
        """Keep one finished input (an input is stored once: a second save of it is a bug and raises)."""
        rows: list[dict[str, Any]] = report.per_input()
        self.store.db.execute(
            "INSERT INTO ttsi_inputs (run_id, task_id, report, rows, seconds, created) VALUES (?, ?, ?, ?, ?, ?)",
            (self.run_id, task_id, pickle.dumps(report), json.dumps(rows, default=str), seconds, time.time()),
        )
