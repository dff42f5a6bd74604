"""Exporting stored trajectories as TRL-ready datasets (conversational `messages` format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.store import Store
from agents.types import Trajectory


def trajectory_record(traj: Trajectory) -> dict[str, Any]:
    """One TRL conversational example with its provenance alongside (TRL ignores the extra columns)."""
    return {
        "messages": traj.to_messages(),
        "trajectory_id": traj.id,
        "run_id": traj.run_id,
        "task_id": traj.task_id,
        "env": traj.env,
        "sample_index": traj.sample_index,
        "source": str(traj.source),
        "parent_id": traj.parent_id,
        "success": traj.success,
        "reward": traj.reward,
        "model": traj.model,
        "adapter": traj.adapter,
    }


def export_run(store: Store, run_id: str, target: Path, *, fmt: str = "jsonl", successful_only: bool = False) -> int:
    """Write the run's finished trajectories to `target` as jsonl or a `datasets` folder; returns the count."""
    trajs = store.trajectories(run_id, status="done", success=True if successful_only else None)
    records = [trajectory_record(t) for t in trajs if t.steps]
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        tmp = target.with_suffix(target.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        tmp.replace(target)
    elif fmt == "hf":
        from datasets import Dataset

        Dataset.from_list(records).save_to_disk(str(target))
    else:
        raise ValueError(f"unknown export format {fmt!r}; use jsonl or hf")
    return len(records)
