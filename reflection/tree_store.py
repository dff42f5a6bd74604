"""Search trees and revision splices in the store's SQLite file: tables `trees`, `tree_nodes`, `tree_revisions`.

`tree_revisions` keeps every splice that was tried, verified or rejected (with the reason), and is the
provenance of the exported training records: a verified row names the failed path's trajectory
(`bad_trajectory_id`) and the revised trajectory (`revised_trajectory_id`, `source=revised`, whose
`parent_id` is the failed path's trajectory).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from agents.store import Store, StoreError
from reflection.mcts import Node, Tree

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trees (
    id TEXT PRIMARY KEY,
    run_id TEXT,
    task_id TEXT NOT NULL,
    env TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'task',
    parent_tree TEXT,
    seed INTEGER,
    model TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL,
    initial_observation TEXT NOT NULL,
    prefix TEXT NOT NULL DEFAULT '[]',
    config TEXT NOT NULL DEFAULT '{}',
    stats TEXT NOT NULL DEFAULT '{}',
    success INTEGER NOT NULL DEFAULT 0,
    nodes INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS trees_run ON trees(run_id, task_id);
CREATE TABLE IF NOT EXISTS tree_nodes (
    tree_id TEXT NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
    node_id INTEGER NOT NULL,
    parent INTEGER,
    depth INTEGER NOT NULL,
    action TEXT NOT NULL,
    model_output TEXT NOT NULL,
    observation TEXT NOT NULL,
    reward REAL NOT NULL,
    terminated INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    origin TEXT NOT NULL,
    visits INTEGER NOT NULL,
    value_sum REAL NOT NULL,
    expanded INTEGER NOT NULL,
    info TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (tree_id, node_id)
);
CREATE TABLE IF NOT EXISTS tree_revisions (
    id TEXT PRIMARY KEY,
    run_id TEXT,
    tree_id TEXT NOT NULL REFERENCES trees(id),
    task_id TEXT NOT NULL,
    bad_node INTEGER NOT NULL,
    good_node INTEGER NOT NULL,
    divergence INTEGER NOT NULL,
    cut INTEGER NOT NULL,
    first_error_source TEXT NOT NULL,
    thought TEXT NOT NULL,
    thought_source TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    continuation TEXT NOT NULL DEFAULT '',
    bad_trajectory_id TEXT,
    revised_trajectory_id TEXT,
    completion_start INTEGER,
    chosen TEXT,
    rejected TEXT,
    llm_calls INTEGER NOT NULL DEFAULT 0,
    details TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tree_revisions_run ON tree_revisions(run_id, status);
"""

_NODE_COLS = (
    "node_id, parent, depth, action, model_output, observation, reward, terminated, truncated, origin, visits,"
    " value_sum, expanded, info"
)


@dataclass(frozen=True)
class RevisionRow:
    """One tried splice: the pair it came from, where it was cut, and whether the environment confirmed it."""

    id: str
    tree_id: str
    task_id: str
    bad_node: int
    good_node: int
    divergence: int
    """Depth at which the failed and the successful path part (their shared prefix has this many steps)."""
    cut: int
    """Index of the failed path's first error; the spliced prefix keeps steps 0..cut."""
    first_error_source: str
    """`model` (the actor judged a step Bad) or `divergence` (no Bad step: cut where the paths part)."""
    thought: str
    thought_source: str
    """`model` or `fallback`."""
    status: str
    """`verified`, `rejected`, or `abandoned` (its tree's revision was cut short, so its task was searched again)."""
    reason: str = ""
    continuation: str = ""
    """`good_path`, `mcts`, `expert` (what the verified splice continued with), or '' when rejected."""
    run_id: str | None = None
    bad_trajectory_id: str | None = None
    revised_trajectory_id: str | None = None
    completion_start: int | None = None
    """Index of the first step that carries loss in the revised trajectory (the revision thought)."""
    chosen: str | None = None
    """The successful path's reply at the divergence point (DPO chosen)."""
    rejected: str | None = None
    """The failed path's reply at the divergence point (DPO rejected)."""
    llm_calls: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class TreeStore:
    """Trees, their nodes and revision splices, in the tables of an open `Store`'s SQLite file."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        if not getattr(store, "readonly", False):  # a viewer's read-only store has the tables or nothing to show
            self.db.executescript(_SCHEMA)

    def save_tree(self, tree: Tree, run_id: str | None = None) -> None:
        """Write `tree` (replacing an earlier save of the same id) in one transaction."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM tree_nodes WHERE tree_id = ?", (tree.id,))
            self.db.execute(
                "INSERT INTO trees (id, run_id, task_id, env, kind, parent_tree, seed, model, system_prompt,"
                " initial_observation, prefix, config, stats, success, nodes, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET run_id = excluded.run_id, stats = excluded.stats,"
                " config = excluded.config, prefix = excluded.prefix, success = excluded.success,"
                " nodes = excluded.nodes",
                (
                    tree.id,
                    run_id,
                    tree.task_id,
                    tree.env,
                    tree.kind,
                    tree.parent_tree,
                    tree.seed,
                    tree.model,
                    tree.system_prompt,
                    tree.initial_observation,
                    json.dumps(tree.prefix),
                    json.dumps(tree.config),
                    json.dumps(tree.stats),
                    int(tree.success),
                    len(tree.nodes),
                    time.time(),
                ),
            )
            self.db.executemany(
                f"INSERT INTO tree_nodes (tree_id, {_NODE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        tree.id,
                        n.id,
                        n.parent,
                        n.depth,
                        n.action,
                        n.model_output,
                        n.observation,
                        n.reward,
                        int(n.terminated),
                        int(n.truncated),
                        n.origin,
                        n.visits,
                        n.value_sum,
                        int(n.expanded),
                        json.dumps(n.info, default=str),
                    )
                    for n in tree.nodes
                ],
            )

    def load_tree(self, tree_id: str) -> Tree:
        row = self.db.execute("SELECT * FROM trees WHERE id = ?", (tree_id,)).fetchone()
        if row is None:
            raise StoreError(f"no tree {tree_id!r} in {self.store.path}; `kintsugi search` builds trees")
        nodes: dict[int, Node] = {}
        for r in self.db.execute(f"SELECT {_NODE_COLS} FROM tree_nodes WHERE tree_id = ? ORDER BY node_id", (tree_id,)):
            nodes[r["node_id"]] = Node(
                id=r["node_id"],
                parent=r["parent"],
                depth=r["depth"],
                action=r["action"],
                model_output=r["model_output"],
                observation=r["observation"],
                reward=r["reward"],
                terminated=bool(r["terminated"]),
                truncated=bool(r["truncated"]),
                origin=r["origin"],
                visits=r["visits"],
                value_sum=r["value_sum"],
                expanded=bool(r["expanded"]),
                info=json.loads(r["info"]),
            )
        for node in nodes.values():
            if node.parent is not None:
                nodes[node.parent].children.append(node.id)
        return Tree(
            id=row["id"],
            task_id=row["task_id"],
            env=row["env"],
            system_prompt=row["system_prompt"],
            initial_observation=row["initial_observation"],
            seed=row["seed"],
            config=json.loads(row["config"]),
            model=row["model"],
            prefix=json.loads(row["prefix"]),
            kind=row["kind"],
            parent_tree=row["parent_tree"],
            nodes=[nodes[i] for i in sorted(nodes)],
            stats=json.loads(row["stats"]),
        )

    def trees(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Summaries (id, task, kind, success, nodes) of the stored trees, oldest first."""
        sql = "SELECT id, run_id, task_id, env, kind, parent_tree, success, nodes, created FROM trees"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            args = (run_id,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY created, id", args)]

    def mark_finished(self, tree_id: str, report: dict[str, Any]) -> None:
        """Record that `tree_id` was searched and revised to the end, with its task's report (what a resume reads)."""
        self._add_stats(tree_id, task_report=report)

    def finished(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Task id -> report of each tree of `run_id` revised to the end."""
        rows = self.db.execute("SELECT task_id, stats FROM trees WHERE run_id = ? AND kind = 'task'", (run_id,))
        stats = [(r["task_id"], json.loads(r["stats"])) for r in rows]
        return {task_id: s["task_report"] for task_id, s in stats if "task_report" in s}

    def resume(self, run_id: str) -> dict[str, dict[str, Any]]:
        """`finished(run_id)`, after abandoning each tree of the run cut short in its revision: its splices become
        `abandoned` (never exported) and so do the trajectories they stored, and its task is to be searched again."""
        rows = self.db.execute("SELECT id, stats FROM trees WHERE run_id = ? AND kind = 'task'", (run_id,)).fetchall()
        for row in rows:
            stats = json.loads(row["stats"])
            if "task_report" not in stats and not stats.get("abandoned"):
                self.abandon(row["id"])
        return self.finished(run_id)

    def abandon(self, tree_id: str) -> None:
        """Mark a tree whose revision was cut short, its splices and the trajectories they stored, abandoned."""
        splices = self.db.execute(
            "SELECT bad_trajectory_id, revised_trajectory_id FROM tree_revisions WHERE tree_id = ?", (tree_id,)
        ).fetchall()
        for trajectory_id in {t for row in splices for t in row if t is not None}:
            self.store.finish_trajectory(trajectory_id, status="abandoned", meta={"abandoned": "revision cut short"})
        with self.db:
            self.db.execute("UPDATE tree_revisions SET status = 'abandoned' WHERE tree_id = ?", (tree_id,))
            self._add_stats(tree_id, abandoned=True)

    def _add_stats(self, tree_id: str, **entries: Any) -> None:
        row = self.db.execute("SELECT stats FROM trees WHERE id = ?", (tree_id,)).fetchone()
        stats = {**json.loads(row["stats"]), **entries}
        self.db.execute("UPDATE trees SET stats = ? WHERE id = ?", (json.dumps(stats), tree_id))

    def add_revision(self, row: RevisionRow) -> None:
        d = asdict(row)
        d["details"] = json.dumps(row.details, default=str)
        d["created"] = time.time()
        cols = ", ".join(d)
        marks = ", ".join("?" for _ in d)
        self.db.execute(f"INSERT INTO tree_revisions ({cols}) VALUES ({marks})", tuple(d.values()))

    def revisions(self, run_id: str | None = None, *, status: str | None = None) -> list[RevisionRow]:
        """Tried splices matching the filters, oldest first."""
        sql, args = "SELECT * FROM tree_revisions WHERE 1=1", []
        if run_id is not None:
            sql += " AND run_id = ?"
            args.append(run_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        out = []
        for r in self.db.execute(sql + " ORDER BY created, id", args):
            d = dict(r)
            d.pop("created")
            d["details"] = json.loads(d["details"])
            out.append(RevisionRow(**d))
        return out


def tree_to_json(tree: Tree) -> dict[str, Any]:
    """The tree as plain JSON data (nodes flat, each with its children's ids), plus the path shown as taken."""
    d = tree.to_dict()
    d["taken_path"] = [n.id for n in tree.taken_path()]
    return d
