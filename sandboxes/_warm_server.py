"""The warm interpreter: runs inside a sandbox and forks a fresh child per test. Never imported by the host.

`sandboxes.warm` starts it as `python3 -I -B -u` inside bubblewrap (one per worker, many tests each), and
`sandboxes.docker` runs it once per test through `docker exec` (as a uid of the run's own). It reads framed requests
on fd 0 and writes framed replies on fd 1 (the frame is described in `sandboxes.warm`); it answers a first frame
`{"ready": true}` and stops at the end of its input.

Per request it writes the files into the emptied workdir, forks a child that takes the test's rlimits and runs
`main.py` as `__main__` with stdin/stdout/stderr of its own, enforces the timeout, then kills every other process of
its uid (`kill(-1)`: atomic, and everything the test started is of that uid), reaps them (it is their subreaper)
and empties the workdir and its uid's files in /tmp and /dev/shm. It makes itself non-dumpable so that a child can
neither ptrace it nor reopen its pipes through /proc. Standard library only; options: `--workdir DIR` (default
/work) and `--ephemeral` (make DIR, mode 700, at start and remove it at the end).
"""

import contextlib
import ctypes
import gc
import json
import os
import resource
import selectors
import shutil
import signal
import struct
import sys
import time
import traceback

MAGIC = b"KSW1"
HEAD = struct.Struct(">4sIQ")
SHARED_DIRS = ("/tmp", "/dev/shm")
PRELOAD = (
    "typing", "math", "re", "collections", "itertools", "functools", "string", "heapq", "bisect", "json",
    "threading", "atexit", "types", "traceback",
)  # fmt: skip
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
READ_CHUNK = 1 << 16
DRAIN_GRACE = 2.0
TAIL = 4096
MEMORY_ERROR = b"MemoryError"
LIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "memory": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
}
# Counters of the enclosing cgroup, when the sandbox shows it (docker does, bubblewrap does not).
OOM_COUNTERS = (("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"), ("/sys/fs/cgroup/memory.events", "oom_kill"))
FORK_COUNTERS = (("/sys/fs/cgroup/pids/pids.events", "max"), ("/sys/fs/cgroup/pids.events", "max"))


def main():
    if os.getuid() == 0:
        raise SystemExit("refusing to run as root: its kill(-1) would reach every process of the machine")
    workdir, ephemeral = "/work", False
    args = sys.argv[1:]
    while args:
        option = args.pop(0)
        if option == "--workdir":
            workdir = args.pop(0)
        elif option == "--ephemeral":
            ephemeral = True
        else:
            raise SystemExit("unknown option " + option)
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 or libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")
    if ephemeral:
        os.mkdir(workdir, 0o700)
    try:
        for name in PRELOAD:
            __import__(name)
        gc.freeze()  # a child's garbage collections then leave the interpreter's objects (and pages) alone
        send(replies, {"ready": True, "pid": os.getpid()}, b"")
        while True:
            request = receive(requests)
            if request is None:
                return
            header, blob = request
            send(replies, *serve(header, blob, workdir, libc))
    finally:
        if ephemeral:
            reap_all()
            shutil.rmtree(workdir, onerror=make_writable)


def receive(fd):
    head = read_exactly(fd, HEAD.size)
    if not head:
        return None
    magic, header_len, blob_len = HEAD.unpack(head)
    if magic != MAGIC:
        raise ValueError("bad request frame")
    header = json.loads(read_exactly(fd, header_len))
    return header, read_exactly(fd, blob_len)


def read_exactly(fd, size):
    parts = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            if parts:
                raise EOFError("request cut short")
            return b""
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def send(fd, header, blob):
    data = json.dumps(header).encode()
    view = memoryview(HEAD.pack(MAGIC, len(data), len(blob)) + data + blob)
    while view:
        view = view[os.write(fd, view) :]


def serve(header, blob, workdir, libc):
    offset = 0
    for name, size in header["files"]:
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(blob[offset : offset + size])
        offset += size
    stdin = os.memfd_create("stdin")
    os.write(stdin, blob[offset:])
    os.lseek(stdin, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    ooms, forks = counter(OOM_COUNTERS), counter(FORK_COUNTERS)
    # Compiled here, before the fork, so that the child does not copy-on-write the pages the compiler touches
    # (about a millisecond per test). Compiling runs none of the code; a compiler crash or blow-up only kills this
    # interpreter (bounded by its cgroup and the host's deadline), and the host then re-runs the test afresh.
    main_path = os.path.join(workdir, "main.py")
    try:
        with open(main_path, "rb") as fh:
            compiled = compile(fh.read(), main_path, "exec", dont_inherit=True)
    except Exception as exc:
        compiled = exc.with_traceback(None)
    pid = os.fork()
    if pid == 0:
        child(header, workdir, stdin, out_w, err_w, libc, compiled)
    del compiled
    for fd in (stdin, out_w, err_w):
        os.close(fd)
    outcome = supervise(pid, out_r, err_r, time.monotonic() + header["timeout"], header["output"])
    outcome["oom_kills"] = counter(OOM_COUNTERS) - ooms
    outcome["forks_refused"] = counter(FORK_COUNTERS) - forks
    outcome["dirty"] = outcome.pop("stuck") or not clean_up(workdir)
    out, err = outcome.pop("out"), outcome.pop("err")
    outcome.update(id=header["id"], out=len(out), err=len(err))
    return outcome, out + err


def supervise(pid, out_r, err_r, deadline, cap):
    """Drain the child's output (keeping `cap` bytes each) until it exits or the deadline; then kill the rest."""
    kept = {out_r: bytearray(), err_r: bytearray()}
    truncated = {out_r: False, err_r: False}
    tail = b""
    pidfd = os.pidfd_open(pid)
    status = rusage = None
    timed_out = stuck = False
    with selectors.DefaultSelector() as selector:
        selector.register(out_r, selectors.EVENT_READ)
        selector.register(err_r, selectors.EVENT_READ)
        selector.register(pidfd, selectors.EVENT_READ)
        while len(selector.get_map()):
            timeout = deadline - time.monotonic()
            if timeout <= 0 and status is None:
                timed_out = True
                kill_all()
                _, status, rusage = os.wait4(pid, 0)
                selector.unregister(pidfd)
                deadline = time.monotonic() + DRAIN_GRACE
                continue
            if timeout <= 0:
                stuck = True  # output pipes still open after every process was killed: replace this sandbox
                break
            for key, _ in selector.select(timeout):
                if key.fd == pidfd:
                    _, status, rusage = os.wait4(pid, 0)
                    selector.unregister(pidfd)
                    kill_all()  # whatever the child left behind, detached grandchildren included
                    deadline = time.monotonic() + DRAIN_GRACE
                    continue
                chunk = os.read(key.fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                room = cap - len(kept[key.fd])
                if room > 0:
                    kept[key.fd] += chunk[:room]
                if len(chunk) > room:
                    truncated[key.fd] = True
                if key.fd == err_r:
                    tail = (tail + chunk)[-TAIL:]
    for fd in (pidfd, out_r, err_r):
        os.close(fd)
    reap_all()
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "out_truncated": truncated[out_r],
        "err_truncated": truncated[err_r],
        "memory_error": any(line.startswith(MEMORY_ERROR) for line in tail.splitlines()),
        "maxrss_kb": rusage.ru_maxrss,
        "stuck": stuck,
        "out": bytes(kept[out_r]),
        "err": bytes(kept[err_r]),
    }


def kill_all():
    """SIGKILL every process of this uid but this one (and pid 1), in one atomic sweep of the kernel."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def reap_all():
    """Kill and reap every remaining descendant (this process is their subreaper)."""
    while True:
        kill_all()
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def counter(sources):
    """The first readable `key value` counter of `sources`; 0 where none is readable."""
    for path, key in sources:
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def clean_up(workdir):
    """Empty the workdir and remove this uid's files from the shared scratch directories.

    False when something could not be removed or SysV IPC objects of this uid are left (then the sandbox is
    replaced rather than reused).
    """
    clean = True
    uid = os.getuid()
    for directory, everything in ((workdir, True), *((d, False) for d in SHARED_DIRS)):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                if not everything and os.lstat(path).st_uid != uid:
                    continue
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, onerror=make_writable)
                else:
                    os.unlink(path)
            except OSError:
                clean = False
    for kind in ("shm", "msg", "sem"):
        try:
            with open("/proc/sysvipc/" + kind) as fh:
                rows = [line.split() for line in fh]
        except OSError:
            continue
        column = rows[0].index("uid") if rows and "uid" in rows[0] else None
        if column is not None and any(len(row) > column and row[column] == str(uid) for row in rows[1:]):
            clean = False
    return clean


def make_writable(function, path, _):
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    function(path)


def child(header, workdir, stdin, out_w, err_w, libc, compiled):
    """In the forked child: take the test's stdio and limits, then run main.py as __main__. Never returns."""
    code = 1
    try:
        os.setsid()
        os.dup2(stdin, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")  # the OOM killer takes the test, never the warm interpreter
        for key, which in LIMITS.items():
            value = header["limits"][key]
            resource.setrlimit(which, (value, value + 1 if which == resource.RLIMIT_CPU else value))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(workdir)
        os.environ["HOME"] = workdir
    except BaseException:
        traceback.print_exc()  # fd 2 is the test's stderr by now, or else the interpreter's log
        os._exit(1)
    try:
        code = run_main(workdir, compiled)
    finally:
        os._exit(code)


def run_main(workdir, compiled):
    """Run main.py like `python3 main.py` would; return the exit status."""
    import builtins
    import types

    if "random" in sys.modules:
        sys.modules["random"].seed()
    sys.argv[:] = ["main.py"]
    sys.path.insert(0, workdir)
    module = types.ModuleType("__main__")
    module.__file__ = os.path.join(workdir, "main.py")
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    code = 0
    try:
        if isinstance(compiled, BaseException):
            raise compiled
        exec(compiled, module.__dict__)
    except SystemExit as exc:
        code = exit_status(exc)
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        code = 1
    try:
        import atexit
        import threading

        threading._shutdown()
        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = exit_status(exc)
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = code or 120
    return code


def exit_status(exc):
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    with contextlib.suppress(Exception):
        print(exc.code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()
