"""Containment, for every backend: hostile code is kept in, the host is left clean, and the result says what happened.

Each (backend, attack) pair adds a `containment` user property; tests/conftest.py prints the table at the end.
Every backend here runs its code as uids from a range of its own, so "no surviving process" is checked on the host
as "no process of those uids", beyond what the warm workers themselves are.
"""

from __future__ import annotations

import os
import socket
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandboxes import ExecResult, Limits, LocalSandbox, LocalSandboxConfig, WarmPool

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(timeout=3, cpu_seconds=3, memory_mb=256, max_processes=32, output_bytes=1 << 16, workdir_mb=32)
LOCAL_UIDS = (5_100_000, 100_000)
WARM_UIDS = (5_200_000, 100_000)
DOCKER_UIDS = (5_300_000, 100_000)
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///run/kintsugi-docker.sock")


@dataclass
class Backend:
    name: str
    box: Any
    uids: tuple[int, int]

    def allowed(self) -> dict[int, int]:
        """Host processes each uid of the range may have between runs: a warm worker's bwrap x2 + interpreter."""
        if isinstance(self.box, WarmPool):
            return {w._uid: 3 for w in self.box._all if w._proc is not None and w._uid is not None}
        return {}


def _docker_box() -> Any:
    try:
        import docker

        client = docker.DockerClient(base_url=DOCKER_HOST, timeout=5)
        client.ping()
        client.close()
    except Exception as exc:  # the SDK missing, or no engine: either way there is nothing to test
        pytest.skip(f"no Docker engine answers at {DOCKER_HOST} ({exc}); run scripts/dockerd.sh start")
    from sandboxes.docker import DockerSandbox, DockerSandboxConfig

    config = DockerSandboxConfig(
        docker_host=DOCKER_HOST, limits=LIMITS, uid_base=DOCKER_UIDS[0], uid_count=DOCKER_UIDS[1]
    )
    return DockerSandbox(config)


@pytest.fixture(scope="module", params=["local", "local-warm", "docker"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    name = request.param
    if name == "local":
        box: Any = LocalSandbox(LocalSandboxConfig(limits=LIMITS, uid_base=LOCAL_UIDS[0], uid_count=LOCAL_UIDS[1]))
        uids = LOCAL_UIDS
    elif name == "local-warm":
        config = LocalSandboxConfig(limits=LIMITS, uid_base=WARM_UIDS[0], uid_count=WARM_UIDS[1])
        box = WarmPool(1, LIMITS, config)
        uids = WARM_UIDS
    else:
        box = _docker_box()
        uids = DOCKER_UIDS
    yield Backend(name, box, uids)
    box.close()


def survivors(backend: Backend) -> dict[int, list[int]]:
    """Host processes of the backend's uid range beyond what its idle warm workers are, by uid."""
    low, count = backend.uids
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = entry.stat().st_uid
                zombie = (entry / "stat").read_text().rpartition(")")[2].split()[0] == "Z"
            except OSError:
                continue
            if low <= uid < low + count and not zombie:  # a zombie is dead; host pid 1 reaps it
                found.setdefault(uid, []).append(int(entry.name))
    allowed = backend.allowed()
    return {uid: pids for uid, pids in found.items() if len(pids) > allowed.get(uid, 0)}


def run(backend: Backend, code: str, limits: Limits = LIMITS) -> ExecResult:
    return backend.box.run(textwrap.dedent(code), limits=limits)


def attack_tcp_to_host_loopback_or_dns(backend: Backend) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        result = run(
            backend,
            f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=1)
                print("connected")
            except OSError as error:
                print("refused", error)
            try:
                socket.getaddrinfo("example.com", 80)
                print("resolved")
            except OSError as error:
                print("unresolved", error)
            """,
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("refused") and lines[1].startswith("unresolved"), result


def attack_host_unix_socket(backend: Backend) -> None:
    path = Path("/tmp") / f"kintsugi-{uuid.uuid4().hex[:12]}.sock"
    abstract = f"\0kintsugi-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX) as on_path, socket.socket(socket.AF_UNIX) as on_name:
        on_path.bind(str(path))
        on_path.listen()
        on_name.bind(abstract)
        on_name.listen()
        try:
            result = run(
                backend,
                f"""
                import socket
                for address in ({str(path)!r}, {abstract!r}, "/var/run/docker.sock", "/run/kintsugi-docker.sock"):
                    try:
                        socket.socket(socket.AF_UNIX).connect(address)
                        print("connected", address)
                    except OSError:
                        print("unreachable")
                """,
            )
        finally:
            path.unlink()
    assert result.stdout == "unreachable\n" * 4, result


def attack_write_outside_workdir(backend: Backend) -> None:
    tag = uuid.uuid4().hex
    host_tmp, in_repo = Path("/tmp") / f"kintsugi-escape-{tag}", REPO / f"kintsugi-escape-{tag}"
    targets = [str(host_tmp), str(in_repo), f"/etc/kintsugi-{tag}", f"/kintsugi-{tag}", f"/usr/kintsugi-{tag}"]
    result = run(
        backend,
        f"""
        for path in {targets!r}:
            try:
                open(path, "w").write("escaped")
                print("wrote", path)
            except OSError:
                print("blocked", path)
        """,
    )
    # /tmp inside is the sandbox's own tmpfs: that write may succeed without reaching the host's /tmp.
    blocked = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("blocked")]
    assert set(targets) - {str(host_tmp)} <= set(blocked), result
    for target in targets:
        assert not Path(target).exists(), target


def attack_read_secret_in_host_home(backend: Backend) -> None:
    secret = Path.home() / f".kintsugi-secret-{uuid.uuid4().hex}"
    secret.write_text("hunter2")
    try:
        result = run(
            backend,
            f"""
            import os
            for path in ({str(secret)!r}, {str(Path.home())!r}, "/etc/shadow"):
                try:
                    print(open(path).read() if os.path.isfile(path) else os.listdir(path))
                except OSError:
                    print("hidden")
            """,
        )
    finally:
        secret.unlink()
    assert "hunter2" not in result.stdout and secret.name not in result.stdout
    assert result.stdout.splitlines()[0] == "hidden", result


def attack_read_host_environment(backend: Backend) -> None:
    os.environ["KINTSUGI_CONTAINMENT_SECRET"] = "s3cr3t"
    try:
        result = run(backend, "import os; print(dict(os.environ)); print(open('/proc/1/environ', 'rb').read())")
    finally:
        del os.environ["KINTSUGI_CONTAINMENT_SECRET"]
    assert "s3cr3t" not in result.stdout + result.stderr
    assert "KINTSUGI_CONTAINMENT_SECRET" not in result.stdout


def attack_fork_bomb(backend: Backend) -> None:
    limits = Limits(timeout=1.5, cpu_seconds=3, max_processes=16, memory_mb=256)
    result = run(
        backend, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", limits
    )
    assert result.timed_out and result.exit_code == -9, result
    assert result.duration < 8
    after = run(backend, "import subprocess; print(subprocess.run(['echo', 'forked']).returncode)")
    assert after.ok and after.stdout == "forked\n0\n", after


def attack_memory_hog(backend: Backend) -> None:
    # Four processes of 100 MiB each: every one is under the per-process cap, together they are over the total.
    result = run(
        backend,
        """
        import os, time
        for _ in range(4):
            if os.fork() == 0:
                block = bytearray(100 << 20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                time.sleep(0.5)
                os._exit(0)
        print([os.wait()[1] for _ in range(4)])
        """,
    )
    assert result.oom_killed, result
    assert not result.ok


def attack_cpu_loop(backend: Backend) -> None:
    result = run(backend, "while True: pass", Limits(timeout=10, cpu_seconds=1))
    assert not result.timed_out and result.exit_code in (-24, -9), result  # SIGXCPU, then SIGKILL
    assert result.duration < 6


def attack_sleep_past_the_timeout(backend: Backend) -> None:
    result = run(backend, "import time; time.sleep(60)", Limits(timeout=1))
    assert result.timed_out and result.exit_code == -9, result
    assert 1 <= result.duration < 6


def attack_detached_child(backend: Backend) -> None:
    result = run(
        backend,
        """
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(100)"])
            os._exit(0)
        os.wait()
        print("parent done")
        """,
    )
    assert result.ok and result.stdout == "parent done\n", result
    assert result.duration < 3


def attack_gigabytes_of_output(backend: Backend) -> None:
    limits = Limits(timeout=3, cpu_seconds=3, output_bytes=1 << 16)
    result = run(
        backend,
        """
        import os
        block = b"x" * (1 << 20)
        for _ in range(2048):
            os.write(1, block)
            os.write(2, block)
        """,
        limits,
    )
    assert result.output_truncated, result
    assert len(result.stdout) < 2 * limits.output_bytes and len(result.stderr) < 2 * limits.output_bytes


def attack_fill_the_disk(backend: Backend) -> None:
    result = run(
        backend,
        """
        import os
        for directory in (".", "/tmp", "/dev/shm", "/"):
            written = 0
            try:
                with open(os.path.join(directory, "fill"), "wb") as fh:
                    for _ in range(4096):
                        fh.write(b"\\0" * (1 << 20))
                        written += 1 << 20
                    fh.flush()
            except OSError as error:
                print(directory, written >> 20, type(error).__name__)
            else:
                print(directory, written >> 20, "unbounded")
        """,
    )
    assert "unbounded" not in result.stdout, result
    for line in result.stdout.splitlines():
        assert int(line.split()[1]) <= max(LIMITS.workdir_mb, LIMITS.file_size_mb), line
    after = run(backend, "import os; print(os.listdir('.'), [n for n in os.listdir('/tmp') if n == 'fill'])")
    assert after.stdout == "['main.py'] []\n", after


def attack_kill_its_parent(backend: Backend) -> None:
    result = run(
        backend,
        """
        import os, signal, time
        for target in (os.getppid(), -1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)
        print("still here")
        """,
    )
    # Either the kill reached nothing that matters and the program went on (its result says so), or it took its
    # supervisor down with it, and the result says that.
    assert (result.exit_code == 0 and "still here" in result.stdout) or (result.exit_code == -9 and not result.ok)
    assert run(backend, "print('next')").stdout == "next\n"


ATTACKS: dict[str, Callable[[Backend], None]] = {
    name.removeprefix("attack_"): value for name, value in dict(globals()).items() if name.startswith("attack_")
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_contained(backend: Backend, attack: str, request: pytest.FixtureRequest) -> None:
    request.node.user_properties.append(("containment", (backend.name, attack)))
    ATTACKS[attack](backend)
    deadline = time.monotonic() + 3
    while survivors(backend) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(backend) == {}, f"processes outlived the run: {survivors(backend)}"
