"""The warm interpreter: runs inside a sandbox and forks a fresh child per test. Never imported by the host.

`sandboxes.warm` starts it as `python3 -I -B -u` inside bubblewrap (one per worker, many tests each), and
`sandboxes.docker` runs it once per test through `docker exec` (as a uid of the run's own). It reads framed requests
on fd 0 and writes framed replies on fd 1 (the frame is described in `sandboxes.warm`); it answers a first frame
`{"ready": true}` and stops at the end of its input.

Per request it writes the files into the emptied workdir, compiles `main.py`, forks a child that takes the test's
rlimits and stdin/stdout/stderr of its own and runs the inherited code object as `__main__`, enforces the timeout,
then kills every other process of its uid (`kill(-1)`: atomic, and everything the test started is of that uid),
reaps them (it is their subreaper) and empties the workdir and its uid's files in /tmp and /dev/shm. It makes
itself non-dumpable so that a child can neither ptrace it nor reopen its pipes through /proc. Standard library
only; options: `--workdir DIR` (default /work) and `--ephemeral` (make DIR, mode 700, at start and remove it at the
end).

Speed, measured on a 2-vCPU VM where a page fault costs 1-2 us: a fork and its exit cost ~0.5 ms for this
interpreter, and every page either process writes after the fork faults once. So the work that touches much
memory (compiling) happens before the fork, the loop that runs while the child lives allocates little, and
nothing imported here registers Python-level after-fork handlers (see PRELOAD).
"""

import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback

MAGIC = b"KSW1"
HEAD = struct.Struct(">4sIQ")
SHARED_DIRS = ("/tmp", "/dev/shm")
# Not `threading`: its after-fork handler runs Python code in every child, which here costs ~0.3 ms per fork
# (a third of a trivial test's fork and exit); a test that wants threads imports it itself.
PRELOAD = (
    "typing", "math", "re", "collections", "itertools", "functools", "string", "heapq", "bisect", "json",
    "atexit", "types", "traceback",
)  # fmt: skip
PR_SET_DUMPABLE = 4
SHM_INFO, MSG_INFO, SEM_INFO = 14, 12, 19  # the *ctl commands that count a namespace's IPC objects
LIBC = ctypes.CDLL(None, use_errno=True)
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
        send(replies, {"ready": True, "pid": os.getpid()}, b"")
        while True:
            request = receive(requests)
            if request is None:
                return
            header, blob = request
            reply = serve(header, blob, workdir, libc)
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


def serve(header, blob, workdir, libc):
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
    # Compiled here, before the fork, rather than in the child, whose every page the compiler touched would be
    # copied on write; the child inherits the code object. A source that does not compile is compiled again by
    # the child, which raises the error as `python3 main.py` would. Compiling runs none of the code; a compiler
    # crash or blow-up only kills this interpreter (bounded by its cgroup and the host's deadline), and the host
    # then re-runs the test afresh.
    main_path = os.path.join(workdir, "main.py")
    try:
        with open(main_path, "rb") as fh:
            compiled = compile(fh.read(), main_path, "exec", dont_inherit=True)
    except Exception:
        compiled = None
    limits = []
    for key, which in LIMITS.items():
        value = header["limits"][key]
        limits.append((which, value, value + 1 if which == resource.RLIMIT_CPU else value))
    stdin = os.memfd_create("stdin")
    write_all(stdin, blob[offset:])
    os.lseek(stdin, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    ooms, forks = counter(OOM_SOURCES), counter(FORK_SOURCES)
    deadline = time.monotonic() + header["timeout"]
    pid = os.fork()
    if pid == 0:
        child(workdir, stdin, out_w, err_w, compiled, limits, libc)
    for fd in (stdin, out_w, err_w):
        os.close(fd)
    outcome = supervise(pid, out_r, err_r, deadline, header["output"])
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
    """Drain the child's output (keeping `cap` bytes each) until it exits or the deadline; then kill the rest.

    It runs while the child shares this interpreter's pages, each first write to one of which is a copy: so it
    keeps to one poll object and two buffers.
    """
    out, err = bytearray(), bytearray()
    out_truncated = err_truncated = timed_out = stuck = False
    tail = b""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    for fd in (out_r, err_r, pidfd):
        poller.register(fd, select.POLLIN)
    watched = 3
    status = rusage = None
    while watched:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            if status is not None:
                stuck = True  # output pipes still open after every process was killed: replace this sandbox
                break
            timed_out = True
            kill_all()
            _, status, rusage = os.wait4(pid, 0)
            poller.unregister(pidfd)
            watched -= 1
            deadline = time.monotonic() + DRAIN_GRACE
            continue
        for fd, _ in poller.poll(int(timeout * 1000) + 1):
            if fd == pidfd:
                _, status, rusage = os.wait4(pid, 0)
                poller.unregister(pidfd)
                watched -= 1
                kill_all()  # whatever the child left behind, detached grandchildren included
                deadline = time.monotonic() + DRAIN_GRACE
                continue
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                poller.unregister(fd)
                watched -= 1
                continue
            kept = out if fd == out_r else err
            room = cap - len(kept)
            if room > 0:
                kept += chunk[:room]
            if len(chunk) > room:
                if fd == out_r:
                    out_truncated = True
                else:
                    err_truncated = True
            if fd == err_r:
                tail = (tail + chunk)[-TAIL:]
    for fd in (pidfd, out_r, err_r):
        os.close(fd)
    reap_all()
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "out_truncated": out_truncated,
        "err_truncated": err_truncated,
        "memory_error": any(line.startswith(MEMORY_ERROR) for line in tail.splitlines()),
        "maxrss_kb": rusage.ru_maxrss,
        "stuck": stuck,
        "out": bytes(out),
        "err": bytes(err),
    }


def kill_all():
    """SIGKILL every process of this uid but this one (and pid 1), in one atomic sweep of the kernel.

    False when there was none to signal (a zombie counts as one).
    """
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def reap_all():
    """Kill and reap every remaining descendant (this process is their subreaper)."""
    while kill_all():
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


def child(workdir, stdin, out_w, err_w, compiled, limits, libc):
    """In the forked child: take the test's stdio and rlimits, then run `compiled` (None: compile main.py here) as
    __main__. Never returns."""
    code = 1
    try:
        os.setsid()
        os.dup2(stdin, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)  # the interpreter's request and reply pipes among them
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        os.write(fd, b"1000")  # the OOM killer takes the test, never the warm interpreter
        os.close(fd)
        os.chdir(workdir)
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))
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
        if compiled is None:
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

        threading = sys.modules.get("threading")
        if threading is not None:  # as the interpreter does at exit: wait for the test's non-daemon threads
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
