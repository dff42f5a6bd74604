"""Stage bookkeeping of iterative training runs (self-training, Agent-R), kept in the run's store.

Each (run, iteration, stage) has one row in the `stages` table; a stage that finished is never run again (its
recorded result is returned instead), and one that was interrupted gets back what it recorded while running (for
instance the id of the agent run it had started, so that run is continued rather than begun afresh). Datasets a
run builds are listed in the `datasets` table with the trajectory ids they came from.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from agents.runner import RunConfig, run_agent
from agents.store import Store
from agents.types import LLM

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS stages (
    run_id TEXT NOT NULL REFERENCES runs(id),
    iteration INTEGER NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '{}',
    seconds REAL,
    PRIMARY KEY (run_id, iteration, stage)
);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    iteration INTEGER NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    trajectory_ids TEXT NOT NULL,
    created REAL NOT NULL
);
"""

Work = Callable[[dict[str, Any]], dict[str, Any]]
"""A stage's body: gets what an unfinished earlier attempt recorded ({} the first time), returns its result."""


def outcomes(store: Store, run_id: str) -> dict[str, bool]:
    """Task id -> solved, for the finished first samples of a run (the unit of a paired test)."""
    return {t.task_id: t.success for t in store.trajectories(run_id, status="done") if t.sample_index == 0}


class StageBook:
    """The stages of one run: run each once, resume an interrupted one, time them all.

    `on_stage(iteration, stage, "start" | "done")` is called around every stage that actually runs.
    """

    def __init__(self, store: Store, run_id: str, on_stage: Callable[[int, str, str], None] | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.on_stage = on_stage
        store.db.executescript(SCHEMA)

    def get(self, iteration: int, stage: str) -> dict[str, Any] | None:
        """The stage's row (`status`, `result`, `seconds`), or None when it never started."""
        row = self.store.db.execute(
            "SELECT status, result, seconds FROM stages WHERE run_id = ? AND iteration = ? AND stage = ?",
            (self.run_id, iteration, stage),
        ).fetchone()
        if row is None:
            return None
        return {"status": row[0], "result": json.loads(row[1]), "seconds": row[2]}

    def mark(self, iteration: int, stage: str, status: str, result: dict[str, Any], seconds: float | None) -> None:
        """Record the stage's status and result (`running` with what a resume needs, or `done`)."""
        self.store.db.execute(
            "INSERT INTO stages (run_id, iteration, stage, status, result, seconds) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id, iteration, stage) DO UPDATE SET status=excluded.status, result=excluded.result,"
            " seconds=excluded.seconds",
            (self.run_id, iteration, stage, status, json.dumps(result), seconds),
        )

    def run(self, iteration: int, stage: str, work: Work) -> dict[str, Any]:
        """Run `work` unless the stage already finished; the result carries `_seconds` (all attempts together)."""
        prior = self.get(iteration, stage)
        if prior and prior["status"] == "done":
            log.info("iteration %d: %s already done", iteration, stage)
            return prior["result"] | {"_seconds": prior["seconds"]}
        if self.on_stage:
            self.on_stage(iteration, stage, "start")
        start = time.perf_counter()
        result = work(prior["result"] if prior else {})
        seconds = (prior or {}).get("seconds") or 0.0
        seconds += time.perf_counter() - start
        self.mark(iteration, stage, "done", result, seconds)
        if self.on_stage:
            self.on_stage(iteration, stage, "done")
        return result | {"_seconds": seconds}

    def agent_run(
        self,
        iteration: int,
        stage: str,
        llm: LLM,
        run_config: RunConfig,
        prior: dict[str, Any],
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """A stage's agent run (`agents.runner.run_agent`): its id is recorded first, so a resume continues it. On
        Ray (`run_config.ray`) the workers build `llm` again from its recipe (backend, model or full fine-tune,
        adapter)."""
        if run_config.ray:
            recipe = llm.recipe()  # type: ignore[attr-defined]
            run_config = replace(run_config, backend=recipe.backend, model=recipe.model, adapter=recipe.adapter,
                                 api_base=recipe.api_base)  # fmt: skip
        run_id = prior.get("run_id")
        if run_id is None:
            run_id = self.store.create_run(asdict(run_config), model=llm.model_id, adapter=llm.adapter)
            self.mark(iteration, stage, "running", {"run_id": run_id}, None)
        result = run_agent(llm, self.store, run_config, run_id=run_id, on_progress=on_progress)
        return {"run_id": run_id, "metrics": result.metrics}

    def record_dataset(
        self, iteration: int, kind: str, path: Path, records: Sequence[dict[str, Any]], trajectory_ids: Sequence[str]
    ) -> None:
        """List a dataset file the run wrote (`kind`, e.g. `agent_sft`) with the trajectories it came from."""
        self.store.db.execute(
            "INSERT OR REPLACE INTO datasets (id, run_id, iteration, kind, path, size, trajectory_ids, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (f"{self.run_id}/{iteration}/{kind}", self.run_id, iteration, kind, str(path), len(records),
             json.dumps(list(trajectory_ids)), time.time()),
        )  # fmt: skip
