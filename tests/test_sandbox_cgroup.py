"""Run cgroups: limits written in the right order, counters read for v1 and v2, leftovers swept (on fake trees)."""

from __future__ import annotations

import os
from pathlib import Path

from sandboxes.cgroup import PREFIX, Cgroups, RunCgroup


def fake_v1(tmp_path: Path) -> tuple[Path, Path]:
    memory, pids = tmp_path / "memory", tmp_path / "pids"
    for directory in (memory, pids):
        directory.mkdir()
        (directory / "cgroup.procs").write_text("")
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712")
    (memory / "memory.memsw.limit_in_bytes").write_text("9223372036854771712")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (memory / "memory.failcnt").write_text("7\n")
    (pids / "pids.max").write_text("max")
    (pids / "pids.events").write_text("max 3\n")
    return memory, pids


def test_v1_limits_and_counters(tmp_path: Path) -> None:
    memory, pids = fake_v1(tmp_path)
    run = RunCgroup(1, [memory, pids])
    run.set_limits(memory_bytes=64 << 20, max_pids=10)
    assert (memory / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(64 << 20)
    assert (pids / "pids.max").read_text() == "10"
    usage = run.usage()
    assert (usage.oom_kills, usage.memory_limit_hits, usage.process_limit_hits) == (2, 7, 3)


def test_v2_limits_and_counters(tmp_path: Path) -> None:
    unified = tmp_path / "run"
    unified.mkdir()
    for name in ("memory.max", "memory.swap.max", "pids.max", "cgroup.procs"):
        (unified / name).write_text("max")
    (unified / "memory.events").write_text("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    (unified / "pids.events").write_text("max 4\n")
    run = RunCgroup(2, [unified])
    run.set_limits(memory_bytes=1 << 20, max_pids=3)
    assert [(unified / n).read_text() for n in ("memory.max", "memory.swap.max", "pids.max")] == [
        str(1 << 20),
        "0",
        "3",
    ]
    usage = run.usage()
    assert (usage.oom_kills, usage.memory_limit_hits, usage.process_limit_hits) == (1, 5, 4)


def test_missing_counters_read_as_zero(tmp_path: Path) -> None:
    usage = RunCgroup(1, [tmp_path / "a", tmp_path / "b"]).usage()
    assert (usage.oom_kills, usage.memory_limit_hits, usage.process_limit_hits) == (0, 0, 0)


def test_sweep_removes_only_cgroups_of_dead_owners(tmp_path: Path) -> None:
    dead = tmp_path / f"{PREFIX}999999999-0"  # above pid_max: never a live process
    mine = tmp_path / f"{PREFIX}{os.getpid()}-0"
    other = tmp_path / "someone-else"
    for directory in (dead, mine, other):
        directory.mkdir()
    Cgroups(2, [tmp_path]).sweep()
    assert not dead.exists() and mine.exists() and other.exists()
