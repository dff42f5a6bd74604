"""Public types of the sandboxes package: the Sandbox protocol, its limits and its result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to one sandboxed run."""

    timeout: float = 10.0
    """Wall-clock seconds before the whole process tree is killed."""
    cpu_seconds: int = 10
    """CPU seconds (RLIMIT_CPU) for each process of the run."""
    memory_mb: int = 512
    """Memory in MiB: the run's total (memory cgroup, where available) and each process's address space (RLIMIT_AS)."""
    file_size_mb: int = 16
    """Largest file the run may write, in MiB (RLIMIT_FSIZE)."""
    max_processes: int = 64
    """Processes/threads the run may have at once (pids cgroup, and RLIMIT_NPROC under a uid of its own)."""
    max_open_files: int = 256
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    output_bytes: int = 1 << 20
    """Bytes kept of stdout and of stderr each; the rest is dropped and `output_truncated` set."""
    workdir_mb: int = 64
    """Size of the private tmpfs working directory in MiB."""


@dataclass(frozen=True)
class ExecResult:
    """What happened to one sandboxed run."""

    exit_code: int | None
    """Exit status; negative for death by signal (-9 = SIGKILL); None if it never started."""
    stdout: str
    """Captured standard output (at most `Limits.output_bytes`, decoded as UTF-8 with replacement)."""
    stderr: str
    """Captured standard error (same cap)."""
    timed_out: bool = False
    """True when the wall-clock timeout killed the run."""
    oom_killed: bool = False
    """True when the run hit its memory limit (MemoryError or a kill by the memory limit)."""
    output_truncated: bool = False
    """True when stdout or stderr went past the cap."""
    process_limit_hit: bool = False
    """True when a fork was refused because the run had `Limits.max_processes` (where the backend can tell)."""
    duration: float = 0.0
    """Wall-clock seconds from start to the end of the last process."""

    @property
    def ok(self) -> bool:
        """Exited normally with status 0 within its limits."""
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


@runtime_checkable
class Sandbox(Protocol):
    """Runs untrusted code in isolation: no network, no writes outside its workdir, bounded resources."""

    name: str

    def run(
        self,
        code: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        stdin: str | bytes | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run Python `code` (or `argv`) with `files` placed in a fresh private workdir."""
        ...

    def close(self) -> None:
        """Release whatever the backend holds (processes, containers)."""
        ...
