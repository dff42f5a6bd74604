"""SQLite (WAL) store of runs, trajectories and steps; every step is committed as it happens."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from agents.types import Source, Step, Trajectory

STORE_NAME = "kintsugi.db"
"""The store's file name in a run directory (`--out`)."""

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL DEFAULT 'running',
    kind TEXT NOT NULL DEFAULT 'run',
    model TEXT NOT NULL DEFAULT '',
    adapter TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    metrics TEXT
);
CREATE TABLE IF NOT EXISTS trajectories (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    task_id TEXT NOT NULL,
    env TEXT NOT NULL,
    sample_index INTEGER NOT NULL DEFAULT 0,
    seed INTEGER,
    source TEXT NOT NULL DEFAULT 'sampled',
    parent_id TEXT REFERENCES trajectories(id),
    model TEXT NOT NULL DEFAULT '',
    adapter TEXT,
    system_prompt TEXT NOT NULL,
    initial_observation TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'running',
    success INTEGER,
    reward REAL,
    created REAL NOT NULL,
    finished REAL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS trajectories_run ON trajectories(run_id, task_id, sample_index);
CREATE INDEX IF NOT EXISTS trajectories_parent ON trajectories(parent_id);
CREATE TABLE IF NOT EXISTS steps (
    trajectory_id TEXT NOT NULL REFERENCES trajectories(id),
    idx INTEGER NOT NULL,
    model_output TEXT NOT NULL,
    action TEXT NOT NULL,
    observation TEXT NOT NULL,
    reward REAL NOT NULL,
    terminated INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    feedback TEXT,
    logprob_sum REAL,
    logprob_mean REAL,
    num_tokens INTEGER NOT NULL DEFAULT 0,
    gen_seconds REAL NOT NULL DEFAULT 0,
    env_seconds REAL NOT NULL DEFAULT 0,
    info TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (trajectory_id, idx)
);
"""


class StoreError(RuntimeError):
    """The store refused an operation (unknown id, a step out of order, a finished trajectory)."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class Store:
    """Runs, trajectories and their steps in one SQLite file (WAL, so readers never block the writer)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            self._open_readonly()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a store file")
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
                raise StoreError(f"no space left for {self.path} ({exc}); free some or pass another --out") from None
            raise StoreError(f"{self.path} is not a Kintsugi store (SQLite: {exc}); pass another --out") from None
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer Kintsugi (schema {version}); upgrade Kintsugi")
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _open_readonly(self) -> None:
        """Open an existing store for reading only (a viewer): nothing is created or written, and a WAL reader never
        blocks the writer. A missing file, a file that is not SQLite or a database without runs is a StoreError."""
        if not self.path.is_file():
            raise StoreError(f"no store at {self.path}")
        self.db = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        self.db.row_factory = sqlite3.Row
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise StoreError(f"{self.path} is not a Kintsugi store ({exc})") from None
        if version > SCHEMA_VERSION:
            self.db.close()
            raise StoreError(f"{self.path} was written by a newer Kintsugi (schema {version}); upgrade Kintsugi")
        if not {"runs", "trajectories", "steps"} <= tables:
            self.db.close()
            raise StoreError(f"{self.path} is not a Kintsugi store (it has no runs/trajectories/steps tables)")

    def has_table(self, name: str) -> bool:
        """Whether the file holds this table (trees, adapters and stages appear once something wrote them)."""
        return name in {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs -----------------------------------------------------------------------------------------
    def create_run(
        self,
        config: dict[str, Any],
        *,
        model: str = "",
        adapter: str | None = None,
        kind: str = "run",
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or new_id("run")
        self.db.execute(
            "INSERT INTO runs (id, created, kind, model, adapter, config) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, time.time(), kind, model, adapter, json.dumps(config)),
        )
        return run_id

    def get_run(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.path}; `kintsugi runs {self.path.parent}` lists them")
        return _run_dict(row)

    def runs(self) -> list[dict[str, Any]]:
        return [_run_dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY created, id")]

    def latest_run(self, *, unfinished: bool = False, kind: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM runs WHERE 1=1"
        args: list[Any] = []
        if unfinished:
            sql += " AND status != 'done'"
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        row = self.db.execute(sql + " ORDER BY created DESC, id DESC LIMIT 1", args).fetchone()
        return _run_dict(row) if row else None

    def finish_run(self, run_id: str, metrics: dict[str, Any], status: str = "done") -> None:
        self.db.execute(
            "UPDATE runs SET finished = ?, status = ?, metrics = ? WHERE id = ?",
            (time.time(), status, json.dumps(metrics), run_id),
        )

    # trajectories ----------------------------------------------------------------------------------
    def start_trajectory(self, traj: Trajectory) -> Trajectory:
        """Record a new trajectory (with whatever steps it already has) and return it."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO trajectories (id, run_id, task_id, env, sample_index, seed, source, parent_id, model,"
                " adapter, system_prompt, initial_observation, context, status, created, meta)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    traj.id,
                    traj.run_id,
                    traj.task_id,
                    traj.env,
                    traj.sample_index,
                    traj.seed,
                    str(traj.source),
                    traj.parent_id,
                    traj.model,
                    traj.adapter,
                    traj.system_prompt,
                    traj.initial_observation,
                    json.dumps(list(traj.context)),
                    time.time(),
                    json.dumps(traj.meta),
                ),
            )
            for step in traj.steps:
                self._insert_step(traj.id, step)
        return replace(traj, status="running")

    def add_step(self, trajectory_id: str, step: Step) -> None:
        """Append one step; committed before returning. Steps must come in order, each once."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute(
                "SELECT status, (SELECT COUNT(*) FROM steps WHERE trajectory_id = ?) AS n FROM trajectories"
                " WHERE id = ?",
                (trajectory_id, trajectory_id),
            ).fetchone()
            if row is None:
                raise StoreError(f"no trajectory {trajectory_id!r}")
            if row["status"] != "running":
                raise StoreError(f"trajectory {trajectory_id} is {row['status']}; it takes no more steps")
            if step.index != row["n"]:
                raise StoreError(f"trajectory {trajectory_id} has {row['n']} steps; got step index {step.index}")
            self._insert_step(trajectory_id, step)

    def _insert_step(self, trajectory_id: str, s: Step) -> None:
        self.db.execute(
            "INSERT INTO steps (trajectory_id, idx, model_output, action, observation, reward, terminated, truncated,"
            " feedback, logprob_sum, logprob_mean, num_tokens, gen_seconds, env_seconds, info, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                trajectory_id,
                s.index,
                s.model_output,
                s.action,
                s.observation,
                s.reward,
                int(s.terminated),
                int(s.truncated),
                s.feedback,
                s.logprob_sum,
                s.logprob_mean,
                s.num_tokens,
                s.gen_seconds,
                s.env_seconds,
                json.dumps(s.info, default=str),
                time.time(),
            ),
        )

    def finish_trajectory(
        self, trajectory_id: str, status: str = "done", meta: dict[str, Any] | None = None
    ) -> Trajectory:
        """Mark a trajectory ended (`done`, or `abandoned` when it cannot be continued) and return it."""
        traj = self.get_trajectory(trajectory_id)
        merged = {**traj.meta, **(meta or {})}
        self.db.execute(
            "UPDATE trajectories SET status = ?, success = ?, reward = ?, finished = ?, meta = ? WHERE id = ?",
            (status, int(traj.success), traj.reward, time.time(), json.dumps(merged), trajectory_id),
        )
        return replace(traj, status=status, meta=merged)

    def get_trajectory(self, trajectory_id: str) -> Trajectory:
        row = self.db.execute("SELECT * FROM trajectories WHERE id = ?", (trajectory_id,)).fetchone()
        if row is None:
            raise StoreError(f"no trajectory {trajectory_id!r} in {self.path}")
        return self._build([row])[0]

    def trajectories(
        self,
        run_id: str | None = None,
        *,
        status: str | None = None,
        source: Source | str | None = None,
        task_id: str | None = None,
        success: bool | None = None,
    ) -> list[Trajectory]:
        """Trajectories matching every filter given, in (task, sample, creation) order, with their steps."""
        sql, args = "SELECT * FROM trajectories WHERE 1=1", []
        for col, val in (("run_id", run_id), ("status", status), ("task_id", task_id)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        if source is not None:
            sql += " AND source = ?"
            args.append(str(source))
        if success is not None:
            sql += " AND success = ?"
            args.append(int(success))
        rows = self.db.execute(sql + " ORDER BY task_id, sample_index, created", args).fetchall()
        return self._build(rows)

    def _build(self, rows: list[sqlite3.Row]) -> list[Trajectory]:
        out = []
        for row in rows:
            steps = tuple(
                _step(s)
                for s in self.db.execute("SELECT * FROM steps WHERE trajectory_id = ? ORDER BY idx", (row["id"],))
            )
            out.append(
                Trajectory(
                    id=row["id"],
                    run_id=row["run_id"],
                    task_id=row["task_id"],
                    env=row["env"],
                    system_prompt=row["system_prompt"],
                    initial_observation=row["initial_observation"],
                    context=tuple(json.loads(row["context"])),
                    steps=steps,
                    sample_index=row["sample_index"],
                    seed=row["seed"],
                    source=Source(row["source"]),
                    parent_id=row["parent_id"],
                    model=row["model"],
                    adapter=row["adapter"],
                    status=row["status"],
                    meta=json.loads(row["meta"]),
                )
            )
        return out

    def count_steps(self, run_id: str | None = None) -> int:
        if run_id is None:
            return self.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        return self.db.execute(
            "SELECT COUNT(*) FROM steps JOIN trajectories t ON t.id = steps.trajectory_id WHERE t.run_id = ?",
            (run_id,),
        ).fetchone()[0]

    def iter_steps(self, trajectory_id: str) -> Iterator[Step]:
        for s in self.db.execute("SELECT * FROM steps WHERE trajectory_id = ? ORDER BY idx", (trajectory_id,)):
            yield _step(s)


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["config"] = json.loads(d["config"])
    d["metrics"] = json.loads(d["metrics"]) if d["metrics"] else None
    return d


def _step(row: sqlite3.Row) -> Step:
    return Step(
        index=row["idx"],
        model_output=row["model_output"],
        action=row["action"],
        observation=row["observation"],
        reward=row["reward"],
        terminated=bool(row["terminated"]),
        truncated=bool(row["truncated"]),
        feedback=row["feedback"],
        logprob_sum=row["logprob_sum"],
        logprob_mean=row["logprob_mean"],
        num_tokens=row["num_tokens"],
        gen_seconds=row["gen_seconds"],
        env_seconds=row["env_seconds"],
        info=json.loads(row["info"]),
    )


def step_to_dict(step: Step) -> dict[str, Any]:
    return asdict(step)
