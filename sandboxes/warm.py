"""Warm-interpreter grading: long-lived sandboxed interpreters that fork a fresh child per test.

A `WarmPool` keeps `workers` warm interpreters, each a `python3` inside one bubblewrap sandbox built exactly like
a `LocalSandbox` run (same namespaces, read-only host view, private tmpfs workdir, a host uid and a cgroup of its
own). The test's files go into the emptied workdir, the interpreter compiles `main.py` and forks a child, which
takes its session, stdio, OOM score and the test's rlimits and runs the inherited code as `__main__` under the
test's timeout: a HumanEval test costs about two milliseconds of sandbox CPU instead of the 20-30 ms of a fresh
sandboxed process.

One bad test never poisons the next: after every test the interpreter kills every other process of its sandbox
and empties /work, /tmp and /dev/shm; after a timeout, a crash, a limit hit, truncated output or leftover IPC
objects the whole worker is replaced. The child never holds the interpreter's pipes, and the host validates
every reply frame; a dead worker, a broken frame or a missed deadline kills the worker, and the test is run again
in a fresh `LocalSandbox` so that no result is lost.

Frames, both ways: `b"KSW1"`, header length (u32, big-endian), blob length (u64), a JSON header, the blob.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from sandboxes.cgroup import CgroupUsage, RunCgroup
from sandboxes.local import (
    _BWRAP_PROCESSES,
    _ETC_FILES,
    _MIB,
    TRUNCATION_MARKER,
    WORKDIR,
    LocalSandbox,
    LocalSandboxConfig,
    _exit_code,
    _hit_memory_limit,
    _memfd,
    _namespace_args,
    _rlimit_plan,
    _workdir_files,
)
from sandboxes.types import ExecResult, Limits

logger = logging.getLogger(__name__)

MAGIC = b"KSW1"
"""First bytes of every frame between the host and a warm interpreter."""
SERVER_PATH = "/kintsugi-warm.py"
"""Where the interpreter's script is mounted (read-only) inside the sandbox."""

_HEAD = struct.Struct(">4sIQ")
_MAX_HEADER = 1 << 16
SERVER_SOURCE = Path(__file__).with_name("_warm_server.py").read_text(encoding="utf-8")
"""The interpreter's script (standard library only), run inside the sandbox by the system python3."""
_SERVER_PROCESSES = 1  # the warm interpreter, beside bwrap's two
_SERVER_MEMORY_MB = 48  # the interpreter's own memory, on top of the test's `memory_mb`
_START_TIMEOUT = 30.0
_REPLY_GRACE = 2.0  # past the test's timeout, for the interpreter to kill, reap, clean up and reply
_LOG_TAIL = 4096
_REPLY_FIELDS = {
    "id": int,
    "exit": int,
    "timed_out": bool,
    "out_truncated": bool,
    "err_truncated": bool,
    "memory_error": bool,
    "maxrss_kb": int,
    "oom_kills": int,
    "forks_refused": int,
    "dirty": bool,
    "out": int,
    "err": int,
}


class ProtocolError(ValueError):
    """A frame from a warm interpreter is malformed or does not answer the request."""


def request_frame(
    request_id: int, code: str, files: Mapping[str, str | bytes] | None, stdin: bytes | None, limits: Limits, nproc: int
) -> bytes:
    """The frame asking an interpreter to run `code` (as main.py) with `files` and `stdin` under `limits`.

    `nproc` is the test's RLIMIT_NPROC: `limits.max_processes` plus the sandbox's own processes of the same uid.
    """
    contents = _workdir_files(code, files, limits)
    header = {
        "id": request_id,
        "timeout": limits.timeout,
        "output": limits.output_bytes,
        "files": [[name, len(content)] for name, content in contents.items()],
        "limits": {
            "cpu": limits.cpu_seconds,
            "memory": limits.memory_mb * _MIB,
            "fsize": limits.file_size_mb * _MIB,
            "nofile": limits.max_open_files,
            "nproc": nproc,
        },
    }
    data = json.dumps(header).encode()
    blob = b"".join(contents.values()) + (stdin or b"")
    return _HEAD.pack(MAGIC, len(data), len(blob)) + data + blob


def parse_frame(buffer: bytes | bytearray, max_blob: int) -> tuple[dict[str, Any], bytes, int] | None:
    """(header, blob, frame size) of the frame at the start of `buffer`; None while it is incomplete."""
    if len(buffer) < _HEAD.size:
        return None
    magic, header_len, blob_len = _HEAD.unpack_from(buffer)
    if magic != MAGIC or header_len > _MAX_HEADER or blob_len > max_blob:
        raise ProtocolError(f"malformed frame: {bytes(buffer[:32])!r}")
    size = _HEAD.size + header_len + blob_len
    if len(buffer) < size:
        return None
    try:
        header = json.loads(buffer[_HEAD.size : _HEAD.size + header_len])
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not a JSON object")
    return header, bytes(buffer[_HEAD.size + header_len : size]), size


def result_from_reply(
    reply: dict[str, Any], blob: bytes, request_id: int, limits: Limits, duration: float, *, oom: bool, forks: bool
) -> tuple[ExecResult, bool]:
    """Check a reply against its request and turn it into (result, whether the sandbox may be reused).

    `oom`/`forks`: the host saw the sandbox's cgroup count an OOM kill / a refused fork during the test.
    """
    for name, kind in _REPLY_FIELDS.items():
        value = reply.get(name)
        if type(value) is not kind:
            raise ProtocolError(f"reply has {name}={value!r}, not a {kind.__name__}")
    if reply["id"] != request_id:
        raise ProtocolError(f"reply to request {reply['id']} came for request {request_id}")
    sizes_ok = 0 <= reply["out"] <= limits.output_bytes and 0 <= reply["err"] <= limits.output_bytes
    if not sizes_ok or reply["out"] + reply["err"] != len(blob):
        raise ProtocolError("reply sizes do not match its output")
    exit_code = _exit_code(reply["exit"])
    stderr_tail = b"MemoryError" if reply["memory_error"] else b""
    out, err = blob[: reply["out"]], blob[reply["out"] :]
    oom = oom or reply["oom_kills"] > 0
    result = ExecResult(
        exit_code=exit_code,
        stdout=_text(out, reply["out_truncated"]),
        stderr=_text(err, reply["err_truncated"]),
        timed_out=reply["timed_out"],
        oom_killed=oom or _hit_memory_limit(exit_code, reply["timed_out"], stderr_tail, reply["maxrss_kb"], limits),
        output_truncated=reply["out_truncated"] or reply["err_truncated"],
        process_limit_hit=forks or reply["forks_refused"] > 0,
        duration=duration,
    )
    limit_hit = result.timed_out or result.oom_killed or result.output_truncated or result.process_limit_hit
    crashed = exit_code is None or exit_code < 0
    return result, not (limit_hit or crashed or reply["dirty"])


class WorkerBroken(RuntimeError):
    """A warm worker died, broke the protocol or missed its deadline; it has been killed."""


class WarmWorker:
    """One warm interpreter in one sandbox; not thread-safe (the pool hands each to one thread at a time).

    `launcher` starts the sandbox from a thread that lives as long as the worker should: bubblewrap's
    `--die-with-parent` is bound to the *thread* that forked it, so a sandbox started from a short-lived thread
    (a `ThreadPoolExecutor` of one `run_many`) would be killed when that thread ends.
    """

    def __init__(self, box: LocalSandbox, launcher: ThreadPoolExecutor) -> None:
        self._box = box
        self._launcher = launcher
        self._proc: subprocess.Popen[bytes] | None = None
        self._cgroup: RunCgroup | None = None
        self._uid: int | None = None
        self._pidfd = -1
        self._next_id = 0
        self._log = b""
        self._caps: tuple[int, int] = (0, 0)
        self._workdir_mb = 0
        self._usage: CgroupUsage | None = None
        self.starts = 0
        """How many times this worker's sandbox was started."""

    def start(self, limits: Limits) -> None:
        """Start the sandbox, sized for `limits`, and wait for the interpreter's ready frame."""
        box = self._box
        self._caps = _caps(limits)
        self._workdir_mb = limits.workdir_mb
        self._uid = box._uids.acquire() if box._as_root else None
        fds: list[int] = []
        try:
            self._cgroup = box._new_cgroup(*self._caps)
            args = [box._bwrap, *_namespace_args(limits)]
            for dest, text in _ETC_FILES.items():
                fds.append(_memfd(text.encode()))
                args += ["--perms", "0644", "--file", str(fds[-1]), dest]
            fds.append(_memfd(SERVER_SOURCE.encode()))
            args += ["--perms", "0444", "--ro-bind-data", str(fds[-1]), SERVER_PATH]
            args += ["--remount-ro", "/", "--chdir", WORKDIR, "--", box._python, "-I", "-B", "-u", SERVER_PATH]
            # The interpreter runs with loose rlimits (its cgroup and tmpfs sizes bound it), under which each
            # child sets the test's own.
            unbounded = replace(
                limits,
                cpu_seconds=1 << 30,
                memory_mb=1 << 30,
                file_size_mb=1 << 30,
                max_open_files=1 << 16,
                max_processes=1 << 15,
            )
            rlimits = _rlimit_plan(unbounded, with_nproc=self._uid is not None, nproc_slack=_SERVER_PROCESSES)
            self._proc = box._spawn(
                args, fds, uid=self._uid, cgroup=self._cgroup, rlimits=rlimits, stdin=subprocess.PIPE
            )
            self._pidfd = os.pidfd_open(self._proc.pid)
        except BaseException:
            self.close()
            raise
        finally:
            for fd in fds:
                os.close(fd)
        self.starts += 1
        header, _ = self._receive(time.monotonic() + _START_TIMEOUT, "start", max_blob=0)
        if header.get("ready") is not True:
            self._broken(f"warm interpreter sent {header!r} instead of its ready frame")

    def run(
        self, code: str, files: Mapping[str, str | bytes] | None, stdin: bytes | None, limits: Limits
    ) -> tuple[ExecResult, bool]:
        """Run one test: (result, whether the worker may be reused). WorkerBroken if the result is not to be trusted."""
        self._next_id += 1
        frame = request_frame(self._next_id, code, files, stdin, limits, _nproc(limits))
        if self._proc is None or limits.workdir_mb != self._workdir_mb:
            self.close()
            self._launch(limits)
        self._set_caps(limits)
        if self._usage is None and self._cgroup is not None:
            self._usage = self._cgroup.usage()
        before = self._usage  # nothing runs in the worker's cgroup between two tests: the last reading holds
        start = time.monotonic()
        deadline = start + limits.timeout + _REPLY_GRACE
        try:
            self._send(frame)
            reply, blob = self._receive(deadline, "a test", max_blob=2 * limits.output_bytes)
        except WorkerBroken as broken:
            if time.monotonic() < deadline:
                raise
            logger.warning("%s; counting the test as timed out", broken)
            return ExecResult(-9, "", "", timed_out=True, duration=time.monotonic() - start), False
        duration = time.monotonic() - start
        after = self._usage = self._cgroup.usage() if self._cgroup is not None else None
        try:
            return result_from_reply(
                reply,
                blob,
                self._next_id,
                limits,
                duration,
                oom=bool(before and after and after.oom_kills > before.oom_kills),
                forks=bool(before and after and after.process_limit_hits > before.process_limit_hits),
            )
        except ProtocolError as exc:
            self._broken(f"bad reply from the warm interpreter: {exc}")

    def close(self) -> None:
        """Kill the sandbox and everything in it, and release its cgroup and uid."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        if self._cgroup is not None:
            self._cgroup.close()
            self._cgroup = None
        self._usage = None
        if self._uid is not None:
            self._box._uids.release(self._uid)
            self._uid = None
        self._log = b""

    def _set_caps(self, limits: Limits) -> None:
        """Give the worker's cgroup this test's memory and process caps (written only when they change)."""
        caps = _caps(limits)
        if caps == self._caps:
            return
        if self._cgroup is not None:
            try:
                self._cgroup.set_limits(memory_bytes=caps[0], max_pids=caps[1])
            except OSError:  # e.g. lowering the cap below what the interpreter uses now
                self.close()
                self._launch(limits)
        self._caps = caps

    def _launch(self, limits: Limits) -> None:
        """`start`, on one of the launcher's threads."""
        self._launcher.submit(self.start, limits).result()

    def _send(self, frame: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(frame)
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            self._broken(f"warm interpreter stopped reading requests ({exc})")

    def _receive(self, deadline: float, what: str, max_blob: int) -> tuple[dict[str, Any], bytes]:
        """Read exactly one well-formed frame before `deadline`, collecting the interpreter's stderr meanwhile."""
        assert self._proc is not None and self._proc.stdout is not None and self._proc.stderr is not None
        out_fd, err_fd = self._proc.stdout.fileno(), self._proc.stderr.fileno()
        buffer = bytearray()
        poller = select.poll()
        for fd in (out_fd, err_fd, self._pidfd):
            poller.register(fd, select.POLLIN)
        while True:
            try:
                frame = parse_frame(buffer, max_blob)
            except ProtocolError as exc:
                self._broken(f"bad frame from the warm interpreter during {what}: {exc}")
            if frame is not None:
                header, blob, size = frame
                if size != len(buffer):
                    self._broken(f"warm interpreter wrote past its frame during {what}")
                return header, blob
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                self._broken(f"warm interpreter gave no reply in time during {what}")
            for fd, _ in poller.poll(int(timeout * 1000) + 1):
                if fd == self._pidfd:
                    self._drain_log(err_fd)
                    self._broken(f"warm interpreter died during {what}")
                chunk = os.read(fd, 1 << 20)
                if fd == err_fd:
                    self._log = (self._log + chunk)[-_LOG_TAIL:]
                elif chunk:
                    buffer += chunk
                else:
                    self._broken(f"warm interpreter closed its reply pipe during {what}")

    def _drain_log(self, fd: int) -> None:
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, 1 << 16):
                self._log = (self._log + chunk)[-_LOG_TAIL:]

    def _broken(self, why: str) -> NoReturn:
        log = self._log.decode(errors="replace").strip()
        self.close()
        raise WorkerBroken(why + (f"; its stderr ends with: {log[-500:]}" if log else ""))


class WarmPool:
    """Warm interpreters for fast grading; satisfies the `Sandbox` protocol (see the module docstring)."""

    name = "local-warm"

    def __init__(
        self, workers: int = 2, limits: Limits | None = None, config: LocalSandboxConfig | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.config = replace(config or LocalSandboxConfig(), limits=limits or (config or LocalSandboxConfig()).limits)
        self.workers = workers
        self.fresh = LocalSandbox(self.config)
        """The fresh-process sandbox: for `argv` runs and for re-running a test whose worker broke."""
        self._idle: queue.SimpleQueue[WarmWorker] = queue.SimpleQueue()
        # Threads that outlive every caller's: the workers' sandboxes are started from them (see WarmWorker).
        self._launcher = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kintsugi-warm-launcher")
        self._all = [WarmWorker(self.fresh, self._launcher) for _ in range(workers)]
        for worker in self._all:
            self._idle.put(worker)
        self._closed = False
        self.restarts = 0
        """Workers replaced after a test that was not clean (timeout, crash, limit hit, broken protocol)."""
        self.reruns = 0
        """Tests re-run in a fresh sandbox because their worker broke."""
        self._lock = threading.Lock()

    def run(
        self,
        code: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        stdin: str | bytes | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run Python `code` in a warm worker (an `argv` command runs in a fresh sandbox instead)."""
        if self._closed:
            raise RuntimeError("this WarmPool is closed; make a new one")
        if code is None or argv is not None:
            return self.fresh.run(code, argv=argv, files=files, stdin=stdin, limits=limits)
        limits = limits or self.config.limits
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else stdin
        worker = self._idle.get()
        try:
            try:
                result, reusable = worker.run(code, files, stdin_bytes, limits)
            except WorkerBroken as broken:
                logger.info("re-running a test in a fresh sandbox: %s", broken)
                with self._lock:
                    self.reruns += 1
                return self.fresh.run(code, files=files, stdin=stdin, limits=limits)
            if not reusable:
                worker.close()
                with self._lock:
                    self.restarts += 1
            return result
        finally:
            self._idle.put(worker)

    def run_many(self, programs: Iterable[str], limits: Limits | None = None) -> list[ExecResult]:
        """Run each Python program (in order of results) across the workers."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda code: self.run(code, limits=limits), programs))

    def close(self) -> None:
        """Kill every worker and any fresh run in progress."""
        self._closed = True
        for worker in self._all:
            worker.close()
        self.fresh.close()
        self._launcher.shutdown(wait=False)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _caps(limits: Limits) -> tuple[int, int]:
    """The worker cgroup's (memory bytes, processes) for a test with `limits`."""
    memory = (limits.memory_mb + _SERVER_MEMORY_MB) * _MIB
    return memory, limits.max_processes + _BWRAP_PROCESSES + _SERVER_PROCESSES


def _nproc(limits: Limits) -> int:
    """A test's RLIMIT_NPROC in a warm worker: its processes plus bwrap's two and the interpreter."""
    return limits.max_processes + _BWRAP_PROCESSES + _SERVER_PROCESSES


def _text(data: bytes, truncated: bool) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + TRUNCATION_MARKER if truncated else text
