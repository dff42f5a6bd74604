"""Exporting stored trajectories as TRL-ready datasets (conversational `messages` format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.store import Store
from agents.tool_calls import native_messages
from agents.types import Trajectory

TOOL_CALL_FORMATS = ("text", "native")
"""How tool calls are exported: `text` (as the agent wrote them, `agents.tool_calls`' text form: trains any model) or
`native` (TRL's tool-calling format: `tool_calls`, `tool` messages and a `tools` column, for a chat template that
renders tools)."""


def trajectory_record(traj: Trajectory, *, tool_calls: str = "text") -> dict[str, Any]:
    """One TRL conversational example with its provenance alongside (TRL ignores the extra columns)."""
    if tool_calls not in TOOL_CALL_FORMATS:
        raise ValueError(f"unknown tool-call format {tool_calls!r}; use one of {', '.join(TOOL_CALL_FORMATS)}")
    messages: list[Any] = traj.to_messages()
    tools = traj.meta.get("tools")
    extra: dict[str, Any] = {}
    if tool_calls == "native" and tools:
        messages, extra = native_messages(messages, tools), {"tools": tools}
    return {
        "messages": messages,
        **extra,
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


def export_run(
    store: Store,
    run_id: str,
    target: Path,
    *,
    fmt: str = "jsonl",
    successful_only: bool = False,
    tool_calls: str = "text",
) -> int:
    """Write the run's finished trajectories to `target` as jsonl or a `datasets` folder; returns the count."""
    trajs = store.trajectories(run_id, status="done", success=True if successful_only else None)
    records = [trajectory_record(t, tool_calls=tool_calls) for t in trajs if t.steps]
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        tmp = target.with_suffix(target.suffix + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                for rec in records:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)  # a failed write (a full disk) leaves nothing half-written
    elif fmt == "hf":
        from datasets import Dataset

        Dataset.from_list(records).save_to_disk(str(target))
    else:
        raise ValueError(f"unknown export format {fmt!r}; use jsonl or hf")
    return len(records)
