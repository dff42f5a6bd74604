"""Per-run control groups: a real total memory cap, a process cap, exact OOM reporting and a tree-wide kill.

Each run gets a memory and a pids cgroup of its own, created inside the caller's own cgroups (so the caller's
limits still bound it), joined by the run's first process before it execs, and removed after the run. cgroup v1
(separate `memory` and `pids` hierarchies) and v2 (one unified hierarchy, when the caller's cgroup may delegate
both controllers to children) are supported; where neither is usable, `Cgroups.detect` returns None and the
backends fall back to rlimits.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "kintsugi-"
"""Name prefix of the cgroups made here: `kintsugi-<pid of the creating process>-<n>`."""

_REMOVE_WAIT = 2.0
_STALE = re.compile(rf"^{re.escape(PREFIX)}(\d+)-\d+$")


@dataclass(frozen=True)
class CgroupUsage:
    """What the kernel counted for one run's cgroups."""

    oom_kills: int = 0
    """Processes the OOM killer killed because the run hit its memory cap."""
    memory_limit_hits: int = 0
    """Times the run's memory use reached the cap (v1 `memory.failcnt`, v2 `memory.events` max)."""
    process_limit_hits: int = 0
    """Forks refused because the run had `max_processes` already (`pids.events` max)."""


class RunCgroup:
    """The cgroup directories of one run; `join` in the child, `usage` and `close` in the parent."""

    def __init__(self, version: int, directories: list[Path]) -> None:
        self.version = version
        self.directories = directories
        # Encoded once here: `join` runs between fork and exec, where allocating little is best.
        self._procs_files = [os.fsencode(d / "cgroup.procs") for d in directories]
        # The counter files `usage` reads, with descriptors kept open: a warm worker reads them around every test,
        # and pread on an open descriptor costs a fraction of opening the file.
        if version == 1:
            memory, pids = directories
            names = (memory / "memory.oom_control", memory / "memory.failcnt", pids / "pids.events")
        else:
            names = (directories[0] / "memory.events", directories[0] / "pids.events")
        self._counter_files = tuple(os.fsencode(name) for name in names)
        self._counters: dict[bytes, int] = {}

    def join(self) -> None:
        """Move the calling process into the run's cgroups (call in the child, as root, before dropping uid)."""
        for path in self._procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def set_limits(self, *, memory_bytes: int, max_pids: int) -> None:
        """Change the memory cap (swap included) and the process cap; lowering fails if usage is above it."""
        if self.version == 1:
            memory, pids = self.directories
            limit, swap = memory / "memory.limit_in_bytes", memory / "memory.memsw.limit_in_bytes"
            # v1 keeps memory <= memory+swap at every step, so the order depends on the direction.
            order = [limit, swap] if memory_bytes <= _number(_text(limit)) else [swap, limit]
            for path in order:
                if path.exists():
                    path.write_text(str(memory_bytes))
            (pids / "pids.max").write_text(str(max_pids))
        else:
            (unified,) = self.directories
            (unified / "memory.max").write_text(str(memory_bytes))
            if (unified / "memory.swap.max").exists():
                (unified / "memory.swap.max").write_text("0")
            (unified / "pids.max").write_text(str(max_pids))

    def usage(self) -> CgroupUsage:
        """OOM kills and limit hits so far."""
        texts = [self._read(path) for path in self._counter_files]
        if self.version == 1:
            oom = _keyed(texts[0]).get("oom_kill", 0)
            hits = _number(texts[1])
        else:
            events = _keyed(texts[0])
            oom, hits = events.get("oom_kill", 0), events.get("max", 0)
        forks = _keyed(texts[-1]).get("max", 0)
        return CgroupUsage(oom_kills=oom, memory_limit_hits=hits, process_limit_hits=forks)

    def _read(self, path: bytes) -> str:
        """The counter file's text ("" when it cannot be read), through a descriptor kept open."""
        try:
            fd = self._counters.get(path)
            if fd is None:
                fd = self._counters[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            return os.pread(fd, 1 << 12, 0).decode()
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL every process still in the run's cgroups (and whatever they fork meanwhile)."""
        kill_file = self.directories[0] / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
            return
        deadline = time.monotonic() + _REMOVE_WAIT
        while time.monotonic() < deadline:
            pids = _members(self.directories)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001)
        logger.warning("processes still alive in %s after %.0f s of SIGKILL", self.directories, _REMOVE_WAIT)

    def close(self) -> None:
        """Kill what is left and remove the directories."""
        for fd in self._counters.values():
            os.close(fd)
        self._counters.clear()
        self.kill()
        for directory in self.directories:
            _remove(directory)


class Cgroups:
    """Where this process may create run cgroups, found once by `detect`."""

    def __init__(self, version: int, parents: list[Path]) -> None:
        self.version = version
        self.parents = parents
        self._counter = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def detect(cls, root: Path = Path("/sys/fs/cgroup")) -> Cgroups | None:
        """The usable hierarchy (v1 memory+pids first, then v2), or None with the reason logged at debug level."""
        for version, find in ((1, _v1_parents), (2, _v2_parents)):
            try:
                parents = find(root)
            except OSError as exc:
                logger.debug("cgroup v%d unusable: %s", version, exc)
                continue
            if parents is None:
                continue
            found = cls(version, parents)
            try:
                found.create(memory_bytes=64 << 20, max_pids=8).close()
            except OSError as exc:
                logger.debug("cgroup v%d: cannot create a run cgroup under %s: %s", version, parents, exc)
                continue
            found.sweep()
            return found
        return None

    def create(self, *, memory_bytes: int, max_pids: int) -> RunCgroup:
        """A fresh run cgroup with a total memory cap (swap included) and a process cap."""
        with self._lock:
            name = f"{PREFIX}{os.getpid()}-{next(self._counter)}"
        directories = [parent / name for parent in self.parents]
        made: list[Path] = []
        try:
            for directory in directories:
                directory.mkdir()
                made.append(directory)
            run = RunCgroup(self.version, directories)
            run.set_limits(memory_bytes=memory_bytes, max_pids=max_pids)
        except BaseException:
            for directory in reversed(made):
                _remove(directory)
            raise
        return run

    def sweep(self) -> None:
        """Remove run cgroups left behind by processes that died before cleaning up."""
        for parent in self.parents:
            for directory in parent.iterdir():
                found = _STALE.match(directory.name)
                if found and directory.is_dir() and not _alive(int(found[1])):
                    RunCgroup(self.version, [directory]).kill()
                    _remove(directory)


def _own_paths(text: str) -> dict[str, str]:
    """{controller or '' for v2: path} from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def _mounts(fstype: str) -> list[tuple[str, str, set[str]]]:
    """(mount root, mount point, super options) of each `fstype` mount of this process."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if tail and tail[0] == fstype:
            found.append((fields[3], fields[4], set(tail[2].split(",")) if len(tail) > 2 else set()))
    return found


def _under_mount(mounts: list[tuple[str, str, set[str]]], want: str | None, path: str) -> Path | None:
    for mount_root, mount_point, options in mounts:
        if want is not None and want not in options:
            continue
        relative = os.path.relpath(path, mount_root)
        if relative.startswith(".."):
            continue
        return Path(os.path.normpath(os.path.join(mount_point, relative)))
    return None


def _v1_parents(root: Path) -> list[Path] | None:
    own = _own_paths(Path("/proc/self/cgroup").read_text())
    if "memory" not in own or "pids" not in own:
        return None
    mounts = _mounts("cgroup")
    memory = _under_mount(mounts, "memory", own["memory"])
    pids = _under_mount(mounts, "pids", own["pids"])
    if memory is None or pids is None or not memory.is_dir() or not pids.is_dir():
        return None
    return [memory, pids]


def _v2_parents(root: Path) -> list[Path] | None:
    own = _own_paths(Path("/proc/self/cgroup").read_text())
    if "" not in own:
        return None
    parent = _under_mount(_mounts("cgroup2"), None, own[""])
    if parent is None or not {"memory", "pids"} <= set((parent / "cgroup.controllers").read_text().split()):
        return None
    enabled = set((parent / "cgroup.subtree_control").read_text().split())
    if not {"memory", "pids"} <= enabled:
        # Fails (EBUSY) when the caller's cgroup holds processes and is not the root: v2's "no internal
        # processes" rule. Then run cgroups are not possible without moving the caller, which we do not do.
        (parent / "cgroup.subtree_control").write_text("+memory +pids")
    return [parent]


def _members(directories: list[Path]) -> set[int]:
    pids: set[int] = set()
    for directory in directories:
        with contextlib.suppress(OSError):
            pids.update(int(pid) for pid in (directory / "cgroup.procs").read_text().split())
    return pids


def _remove(directory: Path) -> None:
    deadline = time.monotonic() + _REMOVE_WAIT
    while True:
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                logger.warning("could not remove cgroup %s: %s", directory, exc)
                return
            time.sleep(0.005)


def _text(path: Path) -> str:
    """The file's text ("" when it cannot be read)."""
    try:
        return path.read_text()
    except OSError:
        return ""


def _keyed(text: str) -> dict[str, int]:
    """`key value` lines as a dict."""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def _number(text: str) -> int:
    try:
        return int(text.strip() or 0)
    except ValueError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
