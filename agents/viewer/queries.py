"""Read-only questions the viewer asks a store, beyond what `agents.store.Store` answers (summaries without steps,
lineage, stages, adapters). Every function takes a `Store` opened with `readonly=True`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agents.store import Store

RUN_ID = re.compile(r"\brun-\d{8}-\d{6}-[0-9a-f]{6}\b")


@dataclass(frozen=True)
class TrajectoryRow:
    """A trajectory without its steps, for tables."""

    id: str
    run_id: str
    task_id: str
    sample_index: int
    source: str
    status: str
    success: bool | None
    reward: float | None
    parent_id: str | None
    steps: int


def run_summaries(store: Store) -> list[dict[str, Any]]:
    """Every run with its trajectory and success counts, newest first."""
    counts = {
        r["run_id"]: (r["n"], r["ok"])
        for r in store.db.execute(
            "SELECT run_id, COUNT(*) AS n, COALESCE(SUM(success), 0) AS ok FROM trajectories GROUP BY run_id"
        )
    }
    out = []
    for run in reversed(store.runs()):
        n, ok = counts.get(run["id"], (0, 0))
        out.append({**run, "trajectories": n, "successes": ok})
    return out


def trajectory_rows(store: Store, run_id: str) -> list[TrajectoryRow]:
    rows = store.db.execute(
        "SELECT t.id, t.run_id, t.task_id, t.sample_index, t.source, t.status, t.success, t.reward, t.parent_id,"
        " (SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS steps FROM trajectories t"
        " WHERE t.run_id = ? ORDER BY t.task_id, t.sample_index, t.created",
        (run_id,),
    ).fetchall()
    return [_row(r) for r in rows]


def _row(r: Any) -> TrajectoryRow:
    return TrajectoryRow(
        id=r["id"],
        run_id=r["run_id"],
        task_id=r["task_id"],
        sample_index=r["sample_index"],
        source=r["source"],
        status=r["status"],
        success=None if r["success"] is None else bool(r["success"]),
        reward=r["reward"],
        parent_id=r["parent_id"],
        steps=r["steps"],
    )


def children(store: Store, traj_id: str) -> list[TrajectoryRow]:
    """Trajectories made from this one (reflected retries, revisions), oldest first."""
    rows = store.db.execute(
        "SELECT t.*, (SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS steps FROM trajectories t"
        " WHERE t.parent_id = ? ORDER BY t.created",
        (traj_id,),
    ).fetchall()
    return [_row(r) for r in rows]


def trajectory_row(store: Store, traj_id: str) -> TrajectoryRow | None:
    r = store.db.execute(
        "SELECT t.*, (SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS steps FROM trajectories t"
        " WHERE t.id = ?",
        (traj_id,),
    ).fetchone()
    return _row(r) if r else None


def task_outcomes(store: Store, run_id: str) -> dict[str, bool]:
    """Task id -> whether its first sample (index 0) succeeded: the paired outcome two runs are compared on."""
    return {
        r["task_id"]: bool(r["success"])
        for r in store.db.execute(
            "SELECT task_id, success FROM trajectories WHERE run_id = ? AND sample_index = 0 AND status != 'running'"
            " ORDER BY created",
            (run_id,),
        )
    }


def related_runs(store: Store, run: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(runs this run's config and metrics name, runs whose config or metrics name this run)."""
    known = {r["id"] for r in store.db.execute("SELECT id FROM runs")}
    text = json.dumps([run["config"], run["metrics"]], default=str)
    named = sorted({m for m in RUN_ID.findall(text) if m in known and m != run["id"]})
    naming = [
        r["id"]
        for r in store.db.execute(
            "SELECT id FROM runs WHERE id != ? AND (config LIKE ? OR metrics LIKE ?) ORDER BY created",
            (run["id"], f"%{run['id']}%", f"%{run['id']}%"),
        )
    ]
    return named, [r for r in naming if r not in named]


def stages(store: Store, run_id: str) -> list[dict[str, Any]]:
    if not store.has_table("stages"):
        return []
    return [
        dict(r)
        for r in store.db.execute(
            "SELECT iteration, stage, status, seconds FROM stages WHERE run_id = ? ORDER BY iteration, rowid",
            (run_id,),
        )
    ]


def adapters(store: Store) -> list[dict[str, Any]]:
    """Registered adapters, oldest first, with hyperparameters, metrics and evals decoded."""
    if not store.has_table("adapters"):
        return []
    out = []
    for r in store.db.execute("SELECT * FROM adapters ORDER BY created, id"):
        d = dict(r)
        for key in ("hyperparameters", "metrics", "evals"):
            d[key] = json.loads(d[key] or "{}")
        out.append(d)
    return out


def trees(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """`TreeStore.trees`, or nothing when no search ever wrote the trees table."""
    from reflection.tree_store import TreeStore

    return TreeStore(store).trees(run_id) if store.has_table("trees") else []


def revisions_touching(store: Store, traj_id: str) -> list[dict[str, Any]]:
    """Revision splices whose failed path or revised result is this trajectory."""
    if not store.has_table("tree_revisions"):
        return []
    return [
        dict(r)
        for r in store.db.execute(
            "SELECT * FROM tree_revisions WHERE bad_trajectory_id = ? OR revised_trajectory_id = ? ORDER BY created",
            (traj_id, traj_id),
        )
    ]


def tree_revisions(store: Store, tree_id: str) -> list[dict[str, Any]]:
    if not store.has_table("tree_revisions"):
        return []
    return [
        dict(r) for r in store.db.execute("SELECT * FROM tree_revisions WHERE tree_id = ? ORDER BY created", (tree_id,))
    ]


def tree_exists(store: Store, tree_id: str) -> bool:
    return store.has_table("trees") and bool(
        store.db.execute("SELECT 1 FROM trees WHERE id = ?", (tree_id,)).fetchone()
    )
