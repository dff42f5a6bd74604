"""The warm pool: fresh-process results at fork speed, and no test can poison or corrupt the next."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

import sandboxes.warm as warm
from environments.code.grade import grade_samples
from environments.code.tasks import humaneval_path
from sandboxes import ExecResult, Limits, LocalSandbox, Sandbox, WarmPool, make_sandbox
from sandboxes.local import TRUNCATION_MARKER

FAST = Limits(timeout=5, cpu_seconds=5, memory_mb=256, max_processes=32, output_bytes=1 << 16)


@pytest.fixture(scope="module")
def pool() -> WarmPool:
    box = WarmPool(2, FAST)
    yield box
    box.close()


def run(pool: WarmPool, code: str, **kwargs: object) -> ExecResult:
    return pool.run(textwrap.dedent(code), **kwargs)


def test_results_match_a_fresh_process(pool: WarmPool) -> None:
    fresh = LocalSandbox()
    programs = [
        "print(6 * 7)",
        "raise ValueError('boom')",
        "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        "import sys; sys.exit('message')",
        "x = (",
        "def f(d):\n    return d['a'] + 1\nf({})",  # the traceback's carets, as the interpreter prints them
        "try:\n    1 / 0\nexcept Exception as e:\n    raise KeyError('k') from e",
        "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
        "import os, sys; print(os.getcwd(), sys.argv, __name__, __file__, os.environ['HOME'])",
        "import atexit; atexit.register(lambda: print('bye'))",
        "import threading, time; threading.Thread(target=lambda: (time.sleep(0.1), print('joined'))).start()",
    ]
    for code in programs:
        got, want = pool.run(code), fresh.run(code)
        assert (got.exit_code, got.stdout, got.stderr) == (want.exit_code, want.stdout, want.stderr), code
    assert isinstance(pool, Sandbox)


def test_files_and_stdin(pool: WarmPool) -> None:
    result = run(
        pool,
        """
        import helper, sys
        print(helper.X, open("data/in.txt").read(), sys.stdin.read()[::-1])
        """,
        files={"helper.py": "X = 3\n", "data/in.txt": "hello"},
        stdin="abc",
    )
    assert result.stdout == "3 hello cba\n", result
    big = b"y" * (4 << 20)
    assert pool.run("import sys; print(len(sys.stdin.buffer.read()))", stdin=big).stdout == f"{len(big)}\n"


def test_nothing_carries_over_from_one_test_to_the_next() -> None:
    with WarmPool(1, FAST) as one:
        first = run(
            one,
            """
            import os, sys, random
            open("left.txt", "w").write("x"); open("/tmp/left.txt", "w").write("x")
            sys.modules["json"] = None
            os.environ["LEAK"] = "1"
            print(random.random())
            """,
        )
        second = run(
            one,
            """
            import os, sys, random, json
            print(sorted(os.listdir(".")), os.path.exists("/tmp/left.txt"), "LEAK" in os.environ)
            print(random.random())
            """,
        )
        assert one._all[0].starts == 1  # the same interpreter ran both
    assert second.stdout.splitlines()[0] == "['main.py'] False False", second
    assert first.stdout.strip() != second.stdout.splitlines()[1]  # each child reseeds


@pytest.mark.parametrize(
    ("kind", "create"),
    [
        ("shm", "libc.shmget(0, 4096, 0o1600)"),  # IPC_PRIVATE, IPC_CREAT | 0600
        ("msg", "libc.msgget(0, 0o1600)"),
        ("sem", "libc.semget(0, 1, 0o1600)"),
    ],
)
def test_sysv_ipc_objects_left_behind_replace_the_worker(kind: str, create: str) -> None:
    with WarmPool(1, FAST) as one:
        made = one.run(f"import ctypes; libc = ctypes.CDLL(None); print({create})")
        assert made.ok and int(made.stdout) >= 0, made
        after = one.run(f"print(len(open('/proc/sysvipc/{kind}').read().splitlines()))")
        assert one.restarts == 1 and one._all[0].starts == 2  # the object outlived its test: a new sandbox
    assert after.stdout == "1\n", after  # the header line only: no object of the earlier test is visible


def test_each_test_gets_its_own_limits(pool: WarmPool) -> None:
    limits = Limits(cpu_seconds=3, memory_mb=200, file_size_mb=2, max_open_files=50, max_processes=20)
    result = run(
        pool,
        """
        import resource as r
        print([r.getrlimit(getattr(r, "RLIMIT_" + n))[0] for n in ("CPU", "AS", "FSIZE", "NOFILE", "CORE")])
        """,
        limits=limits,
    )
    assert result.stdout == f"[3, {200 << 20}, {2 << 20}, 50, 0]\n", result
    assert pool.run("import resource as r; print(r.getrlimit(r.RLIMIT_NOFILE)[0])").stdout == "256\n"


def test_worker_is_replaced_after_a_timeout_a_crash_or_a_limit_hit() -> None:
    with WarmPool(1, FAST) as one:
        worker = one._all[0]
        assert one.run("print(1)").ok and worker.starts == 1
        assert one.run("print(2)").ok and worker.starts == 1
        assert one.run("while True: pass", limits=Limits(timeout=0.5)).timed_out
        assert one.run("print(3)").ok and worker.starts == 2
        assert one.run("import os; os.abort()").exit_code == -6
        assert one.run("x = bytearray(1 << 30)").oom_killed
        assert one.run("print('x' * 100000)", limits=Limits(output_bytes=10)).stdout == "x" * 10 + TRUNCATION_MARKER
        assert one.run("print(4)").stdout == "4\n"
        assert worker.starts == 5
        assert one.restarts == 4


def test_child_cannot_reach_the_interpreter_s_pipes_or_memory(pool: WarmPool) -> None:
    result = run(
        pool,
        """
        import os
        parent = os.getppid()
        for path in (f"/proc/{parent}/fd", f"/proc/{parent}/mem", f"/proc/{parent}/environ"):
            try:
                print(os.listdir(path) if path.endswith("fd") else open(path, "rb").read(1))
            except OSError as error:
                print("denied")
        print(sorted(int(fd) for fd in os.listdir("/proc/self/fd")))
        """,
    )
    lines = result.stdout.splitlines()
    assert lines[:3] == ["denied"] * 3, result
    assert lines[3] == "[0, 1, 2, 3]", result  # 3: the listdir's own descriptor


def test_a_test_that_kills_the_interpreter_is_rerun_fresh_and_the_pool_recovers() -> None:
    with WarmPool(1, FAST) as one:
        result = one.run("import os, signal, time; os.kill(os.getppid(), signal.SIGKILL); time.sleep(0.3); print('hi')")
        assert result.ok and result.stdout == "hi\n"  # in a fresh sandbox the same kill reaches nothing
        assert one.reruns == 1
        assert one.run("print('next')").stdout == "next\n"


@pytest.mark.parametrize(
    "garbage",
    [
        "os.write(1, b'not a frame at all')",
        "os.write(1, MAGIC + struct.pack('>IQ', 2, 0) + b'[]')",
        "send(1, {'id': 999, 'exit': 0}, b'')",
        "send(1, dict(header, out=10**9), b'')",
    ],
)
def test_protocol_violations_kill_the_worker_and_lose_no_result(
    garbage: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that answers its first test with `garbage` instead of a well-formed reply.
    broken = warm.SERVER_SOURCE.replace(
        "            send(replies, *reply)",
        f"            replies = 1 if header['id'] == 1 else replies\n"
        f"            exec({garbage!r}) if header['id'] == 1 else send(replies, *reply)",
    )
    broken = broken.replace(
        "    requests = os.dup(0)\n    replies = os.dup(1)\n", "    requests = os.dup(0)\n    replies = 1\n"
    )
    broken = broken.replace("    os.dup2(null, 1)\n", "")
    assert broken != warm.SERVER_SOURCE
    monkeypatch.setattr(warm, "SERVER_SOURCE", broken)
    with WarmPool(1, FAST) as one:
        result = one.run("print('graded anyway')")
        assert result.ok and result.stdout == "graded anyway\n"
        assert one.reruns == 1 and one._all[0]._proc is None


def test_argv_runs_in_a_fresh_sandbox(pool: WarmPool) -> None:
    result = pool.run(argv=["sh", "-c", "echo hi; exit 4"])
    assert (result.exit_code, result.stdout) == (4, "hi\n")


def test_run_many_keeps_order_and_is_fast(pool: WarmPool) -> None:
    programs = [f"print({i})" for i in range(200)]
    start = time.monotonic()
    results = pool.run_many(programs)
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(200)]
    assert elapsed < 200 * 0.015, elapsed  # a fresh sandboxed process alone costs 20-30 ms


def test_make_sandbox_builds_the_warm_pool() -> None:
    box = make_sandbox("local-warm", workers=1)
    try:
        assert isinstance(box, WarmPool) and box.run("print(5)").stdout == "5\n"
    finally:
        box.close()


@pytest.mark.parametrize("use_warm", [True, False])
def test_grade_gives_the_same_verdicts_warm_or_fresh(tmp_path: Path, use_warm: bool) -> None:
    import gzip

    with gzip.open(humaneval_path(), "rt") as fh:
        problems = [json.loads(line) for line in fh][:20]
    samples = tmp_path / "samples.jsonl"
    with samples.open("w") as fh:
        for p in problems:
            fh.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
            fh.write(json.dumps({"task_id": p["task_id"], "completion": "    return None\n"}) + "\n")
    summary = grade_samples(humaneval_path(), samples, workers=2, warm=use_warm)
    assert summary["passed"] == 20 and summary["samples"] == 40
    rows = [json.loads(line) for line in Path(summary["results_file"]).read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True, False] * 20
    assert all(r["result"].startswith("failed: ") for r in rows[1::2])


def test_closed_pool_refuses_runs_and_leaves_no_process() -> None:
    one = WarmPool(1, FAST)
    one.run("print(1)")
    proc = one._all[0]._proc
    assert proc is not None
    one.close()
    assert proc.poll() is not None
    assert not os.path.exists(f"/proc/{proc.pid}/status") or "Z" in Path(f"/proc/{proc.pid}/stat").read_text()
    with pytest.raises(RuntimeError, match="closed"):
        one.run("print(1)")


def test_workers_outlive_the_threads_that_first_used_them() -> None:
    # bubblewrap's --die-with-parent follows the thread that forked it: a worker started from run_many's
    # short-lived threads used to die with them, so every later call re-ran a test fresh and restarted the worker.
    two = WarmPool(2, FAST)
    try:
        assert [r.stdout for r in two.run_many(["print(1)", "print(2)"] * 4)] == ["1\n", "2\n"] * 4
        pids = {w._proc.pid for w in two._all if w._proc is not None}
        time.sleep(0.2)  # the executor's threads are gone by now
        assert [r.stdout for r in two.run_many(["print(3)"] * 6)] == ["3\n"] * 6
        assert two.run("print(4)").stdout == "4\n"
        assert (two.reruns, two.restarts) == (0, 0)
        assert {w._proc.pid for w in two._all if w._proc is not None} == pids
        assert all(w.starts <= 1 for w in two._all)
    finally:
        two.close()
