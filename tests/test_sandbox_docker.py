"""The docker backend: a hardened long-lived container, one exec per run, removed at close.

Skipped, with the reason, only when no Docker engine answers (start one: scripts/dockerd.sh start). An engine
without the image is an error that says how to build it.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from sandboxes import Limits, Sandbox, make_sandbox
from sandboxes.image import configured_mirror

DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///run/kintsugi-docker.sock")
FAST = Limits(timeout=5, cpu_seconds=5, memory_mb=256, max_processes=32, output_bytes=1 << 16)


def _engine() -> object:
    docker = pytest.importorskip("docker", reason="the docker SDK is not installed: pip install 'kintsugi[docker]'")
    try:
        client = docker.DockerClient(base_url=DOCKER_HOST, timeout=5)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers at {DOCKER_HOST} ({exc}); run scripts/dockerd.sh start")
    return client


@pytest.fixture(scope="module")
def client() -> object:
    engine = _engine()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def box(client: object) -> object:
    from sandboxes.docker import DockerSandbox, DockerSandboxConfig

    sandbox = DockerSandbox(DockerSandboxConfig(docker_host=DOCKER_HOST, limits=FAST))
    yield sandbox
    sandbox.close()


def test_runs_code_files_stdin_and_argv(box: object) -> None:
    assert isinstance(box, Sandbox)
    result = box.run(
        textwrap.dedent(
            """
            import helper, sys
            print(helper.X, open("data/in.txt").read(), sys.stdin.read()[::-1])
            raise SystemExit(3)
            """
        ),
        files={"helper.py": "X = 3\n", "data/in.txt": "hello"},
        stdin="abc",
    )
    assert (result.exit_code, result.stdout) == (3, "3 hello cba\n"), result
    result = box.run(argv=["sh", "-c", "cat in.txt; hostname; id -u; exit 4"], files={"in.txt": "x\n"})
    assert result.exit_code == 4 and result.stdout.startswith("x\nsandbox\n"), result
    assert int(result.stdout.split()[-1]) >= 3_000_000  # a uid of the run's own
    error = box.run("raise ValueError('boom')")
    assert error.exit_code == 1 and "ValueError: boom" in error.stderr


def test_container_is_hardened(box: object, client: object) -> None:
    box.run("pass")
    attrs = client.containers.get(box.container_id).attrs
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["PidsLimit"] > 0 and host["Memory"] > 0 and host["NanoCpus"] > 0
    assert attrs["Config"]["User"] == "65534:65534"
    assert "uid=65534" in host["Tmpfs"]["/work"]
    inside = box.run(
        "import os\ncap = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]\n"
        "print(int(cap, 16), sorted(os.listdir('/sys/class/net')))"
    )
    assert inside.stdout == "0 ['lo']\n", inside


def test_timeout_is_enforced_inside_and_the_container_survives(box: object) -> None:
    container = box.container_id
    result = box.run("import time; time.sleep(60)", limits=Limits(timeout=1))
    assert result.timed_out and result.exit_code == -9 and result.duration < 4
    assert box.run("print('next')").stdout == "next\n"
    assert box.container_id == container


def test_runs_do_not_see_each_other_s_files(box: object) -> None:
    box.run("open('mine.txt', 'w').write('x'); open('/tmp/mine.txt', 'w').write('x')")
    result = box.run("import os; print(os.listdir('.'), os.listdir('/tmp'), os.listdir('/work'))")
    assert result.stdout.startswith("['main.py'] [] ['run-"), result


def test_close_removes_the_container_and_a_killed_owner_s_container_is_swept(client: object) -> None:
    from sandboxes.docker import LABEL, OWNER_LABEL, DockerSandbox, DockerSandboxConfig

    box = DockerSandbox(DockerSandboxConfig(docker_host=DOCKER_HOST, limits=FAST))
    box.run("pass")
    container = box.container_id
    box.close()
    assert not client.containers.list(all=True, filters={"id": container})
    # A container whose owner process was killed (here: a pid that cannot exist) goes at the next start.
    import socket

    orphan = client.containers.create(
        "kintsugi-python:bookworm",
        ["sleep", "infinity"],
        labels={LABEL: "1", OWNER_LABEL: f"{socket.gethostname()}:999999999"},
        network_mode="none",
    )
    DockerSandbox(DockerSandboxConfig(docker_host=DOCKER_HOST)).close()
    assert not client.containers.list(all=True, filters={"id": orphan.id})


def test_make_sandbox_builds_the_docker_backend(client: object) -> None:
    box = make_sandbox("docker")
    try:
        assert box.name == "docker" and box.run("print(2 + 2)").stdout == "4\n"
    finally:
        box.close()


def test_missing_engine_says_how_to_start_one() -> None:
    pytest.importorskip("docker")
    from sandboxes.docker import DockerSandbox, DockerSandboxConfig, DockerUnavailable

    with pytest.raises(DockerUnavailable, match=r"scripts/dockerd\.sh start"):
        DockerSandbox(DockerSandboxConfig(docker_host="unix:///nonexistent/docker.sock"))


def test_configured_mirror_reads_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert configured_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("# c\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert configured_mirror(tmp_path) == "http://other.example/debian"
    (tmp_path / "sources.list").write_text("")
    assert configured_mirror(tmp_path) == "http://deb.debian.org/debian"


def test_dockerd_script_reports_status_without_starting_anything() -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "dockerd.sh"
    done = subprocess.run(
        [str(script), "status"],
        env={**os.environ, "KINTSUGI_DOCKER_DIR": "/nonexistent", "KINTSUGI_DOCKER_SOCK": "/nonexistent.sock"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "not running" in done.stdout
    bad = subprocess.run([str(script), "bogus"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "usage" in bad.stderr
