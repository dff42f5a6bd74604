"""The warm interpreter: runs inside a sandbox and forks a fresh child per test. Never imported by the host.

`sandboxes.warm` starts it as `python3 -I -B -u` inside bubblewrap (one per worker, many tests each), and
`sandboxes.docker` runs it once per test through `docker exec` (as a uid of the run's own). It reads framed requests
on fd 0 and writes framed replies on fd 1 (the frame is described in `sandboxes.warm`); it answers a first frame
`{"ready": true}` and stops at the end of its input.

Per request it writes the files into the emptied workdir, hands the test to a child (forked ahead with `--prefork`,
else now) that is given the test's rlimits (prlimit, while it waits) and runs `main.py` as `__main__` with
stdin/stdout/stderr of its own,
enforces the timeout, then kills every other process of its uid (`kill(-1)`: atomic, and everything the test started
is of that uid), reaps them (it is their subreaper) and empties the workdir and its uid's files in /tmp and
/dev/shm. It makes itself non-dumpable so that a child can neither ptrace it nor reopen its pipes through /proc.
Standard library only; options: `--workdir DIR` (default /work), `--ephemeral` (make DIR, mode 700, at start and
remove it at the end) and `--prefork` (fork each test's child before its request comes, and keep one such spare
waiting between requests).
"""

import contextlib
import ctypes
import gc
import json
import marshal
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
SHM_INFO, MSG_INFO, SEM_INFO = 14, 12, 19  # the *ctl commands that count a namespace's IPC objects
LIBC = ctypes.CDLL(None, use_errno=True)
GO_FD = 3  # in a child: the pipe its go message comes on
COMPILED, SOURCE = b"c", b"s"  # a go message's first byte: marshalled code follows / compile main.py yourself
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
OOM_SOURCES = FORK_SOURCES = ()  # those of the counters above that this sandbox shows (probed at start)


def main():
    global OOM_SOURCES, FORK_SOURCES
    if os.getuid() == 0:
        raise SystemExit("refusing to run as root: its kill(-1) would reach every process of the machine")
    workdir, ephemeral, keep_spare = "/work", False, False
    args = sys.argv[1:]
    while args:
        option = args.pop(0)
        if option == "--workdir":
            workdir = args.pop(0)
        elif option == "--ephemeral":
            ephemeral = True
        elif option == "--prefork":
            keep_spare = True
        else:
            raise SystemExit("unknown option " + option)
    OOM_SOURCES, FORK_SOURCES = readable(OOM_COUNTERS), readable(FORK_COUNTERS)
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    libc = LIBC
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 or libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")
    if ephemeral:
        os.mkdir(workdir, 0o700)
    os.environ["HOME"] = workdir  # set once here: every child inherits it
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        for name in PRELOAD:
            __import__(name)
        gc.freeze()  # a child's garbage collections then leave the interpreter's objects (and pages) alone
        spare = prefork(workdir, libc) if keep_spare else None
        send(replies, {"ready": True, "pid": os.getpid()}, b"")
        while True:
            request = receive(requests)
            if request is None:
                return
            header, blob = request
            reply = serve(header, blob, workdir, libc, spare)
            # The next test's child exists before the reply leaves, so that between tests a worker is always the
            # same processes: bubblewrap's two, this interpreter and one spare blocked on its go pipe.
            spare = prefork(workdir, libc) if keep_spare else None
            send(replies, *reply)
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
    write_all(fd, HEAD.pack(MAGIC, len(data), len(blob)) + data + blob)


class Spare:
    """A child forked ahead of its test, set up and blocked reading its go pipe (fd 3 on its side)."""

    def __init__(self, pid, go, stdin, out_r, err_r):
        self.pid, self.go, self.stdin, self.out_r, self.err_r = pid, go, stdin, out_r, err_r

    def close(self):
        for fd in (self.go, self.stdin, self.out_r, self.err_r):
            with contextlib.suppress(OSError):
                os.close(fd)


def prefork(workdir, libc):
    """Fork the next test's child now, so that the fork and the child's set-up are off the test's critical path."""
    stdin = os.memfd_create("stdin")
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        child(workdir, stdin, out_w, err_w, go_r, libc)
    for fd in (out_w, err_w, go_r):
        os.close(fd)
    return Spare(pid, go_w, stdin, out_r, err_r)


def serve(header, blob, workdir, libc, spare=None):
    offset = 0
    for name, size in header["files"]:
        path = os.path.join(workdir, name)
        if "/" in name:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, blob[offset : offset + size])
        finally:
            os.close(fd)
        offset += size
    # Compiled here rather than in the child, whose every page the compiler touched would be copied on write;
    # the child gets the code object marshalled. A source that does not compile is compiled again by the child,
    # which raises the error as `python3 main.py` would. Compiling runs none of the code; a compiler crash or
    # blow-up only kills this interpreter (bounded by its cgroup and the host's deadline), and the host then
    # re-runs the test afresh.
    main_path = os.path.join(workdir, "main.py")
    try:
        with open(main_path, "rb") as fh:
            go = COMPILED + marshal.dumps(compile(fh.read(), main_path, "exec", dont_inherit=True))
    except Exception:
        go = SOURCE
    limits = [(which, header["limits"][key]) for key, which in LIMITS.items()]
    ooms, forks = counter(OOM_SOURCES), counter(FORK_SOURCES)
    for attempt in (1, 2):
        spare = spare or prefork(workdir, libc)
        os.write(spare.stdin, blob[offset:])
        os.lseek(spare.stdin, 0, os.SEEK_SET)
        deadline = time.monotonic() + header["timeout"]
        try:
            # The child waits on its go pipe, so it takes the limits before it runs a line of the test; set from
            # here they cost it no parsing (and no copied pages).
            for which, value in limits:
                resource.prlimit(spare.pid, which, (value, value + 1 if which == resource.RLIMIT_CPU else value))
            write_all(spare.go, go)
            os.close(spare.go)
            break
        except OSError:  # the spare died waiting (it cannot have run anything): fork another, with fresh limits
            spare.close()
            reap_all()
            spare = None
            if attempt == 2:
                raise
    os.close(spare.stdin)
    outcome = supervise(spare.pid, spare.out_r, spare.err_r, deadline, header["output"])
    outcome["oom_kills"] = counter(OOM_SOURCES) - ooms
    outcome["forks_refused"] = counter(FORK_SOURCES) - forks
    outcome["dirty"] = outcome.pop("stuck") or not clean_up(workdir)
    out, err = outcome.pop("out"), outcome.pop("err")
    outcome.update(id=header["id"], out=len(out), err=len(err))
    return outcome, out + err


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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


def readable(sources):
    """The (path, key) pairs of `sources` that can be read here: probed once, at start."""
    found = []
    for path, key in sources:
        try:
            with open(path):
                found.append((path, key))
        except OSError:
            continue
    return tuple(found)


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
    if ipc_objects_exist():
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


def ipc_objects_exist():
    """Whether any SysV shared memory segment, message queue or semaphore set exists in this IPC namespace.

    Three `*_INFO` syscalls (microseconds) spare the common case the three /proc/sysvipc reads (tens of them);
    an error counts as "maybe", so the files are read then.
    """
    info = ctypes.create_string_buffer(256)
    counts = []
    for call, args, field in ((LIBC.shmctl, (0, SHM_INFO), 0), (LIBC.msgctl, (0, MSG_INFO), 0),
                              (LIBC.semctl, (0, 0, SEM_INFO), 7)):  # fmt: skip
        if call(*args, info) < 0:
            return True
        counts.append(int.from_bytes(info.raw[4 * field : 4 * field + 4], sys.byteorder, signed=True))
    return any(counts)


def make_writable(function, path, _):
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    function(path)


def child(workdir, stdin, out_w, err_w, go_r, libc):
    """In the forked child: take the test's stdio, wait for the go message (its rlimits are set meanwhile), then run
    main.py as __main__: the marshalled code that came with the message, or the source compiled here. Never
    returns."""
    code = 1
    try:
        os.setsid()
        os.dup2(stdin, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(go_r, GO_FD)
        os.closerange(GO_FD + 1, 1 << 16)
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        os.write(fd, b"1000")  # the OOM killer takes the test, never the warm interpreter
        os.close(fd)
        os.chdir(workdir)
        message = read_to_end(GO_FD)
        os.close(GO_FD)
        if not message:
            os._exit(0)  # the interpreter went away without a test for this child
        compiled = message[1:] if message[:1] == COMPILED else b""
    except BaseException:
        traceback.print_exc()  # fd 2 is the test's stderr by now, or else the interpreter's log
        os._exit(1)
    try:
        code = run_main(workdir, compiled)
    finally:
        os._exit(code)


def read_to_end(fd):
    parts = []
    while chunk := os.read(fd, READ_CHUNK):
        parts.append(chunk)
    return b"".join(parts)


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
        if compiled:
            compiled = marshal.loads(compiled)
        else:
            with open(module.__file__, "rb") as fh:
                compiled = compile(fh.read(), module.__file__, "exec", dont_inherit=True)
        exec(compiled, module.__dict__)
    except SystemExit as exc:
        code = exit_status(exc)
    except BaseException as exc:
        # The interpreter's own C printer, as `python3 main.py` uses: the `traceback` module's (which re-parses
        # the source for its carets) costs a failing test ~2 ms and ~500 copy-on-write page faults more.
        if exc.__traceback__ is not None:
            exc.__traceback__ = exc.__traceback__.tb_next  # without this function's frame
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
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
