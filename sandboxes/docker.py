"""The `docker` sandbox backend: one hardened, long-lived container per sandbox object, one `docker exec` per run.

The container (from `kintsugi-python:bookworm`, built by `sandboxes.image.build_image`) has no network, a read-only
root, tmpfs /work, /tmp and /dev/shm, no capabilities, `no-new-privileges`, an init that reaps orphans, and
memory, pids and CPU limits; it idles as uid 65534 and is removed at `close` (and when the object is collected or
the interpreter exits, and by the next `DockerSandbox` of this machine if its owner was killed).

Each run is a `docker exec` of Kintsugi's interpreter script (`sandboxes/_warm_server.py`) as a uid of its own, with
a private workdir /work/run-UID: the script writes the files, forks the program with the run's rlimits, enforces
the timeout inside the container, then kills every process of that uid (`kill(-1)`, so detached children die too)
and removes the uid's files. Should the exec miss its deadline, the host kills the uid's processes through another
exec, and removes the container if even that fails. The Docker engine is found through `DOCKER_HOST`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import struct
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandboxes.image import DEFAULT_IMAGE, engine_address
from sandboxes.local import _workdir_files
from sandboxes.types import ExecResult, Limits
from sandboxes.warm import SERVER_SOURCE, ProtocolError, parse_frame, request_frame, result_from_reply

logger = logging.getLogger(__name__)

LABEL = "kintsugi.sandbox"
"""Label on every container this backend makes (`scripts/dockerd.sh stop` removes them by it)."""
OWNER_LABEL = "kintsugi.owner"
"""Label naming the process that owns a container: `hostname:pid`."""

_IDLE_USER = "65534:65534"
_REPLY_GRACE = 5.0  # past the run's timeout: docker exec start-up, kill, reap and reply
_KILL_WAIT = 3.0
_MUX = struct.Struct(">BxxxI")
_CLEAN_UID = """
import os, shutil, signal, sys
for _ in range(100):
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        break
shutil.rmtree(sys.argv[1], ignore_errors=True)
for directory in ("/tmp", "/dev/shm"):
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.lstat(path).st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
"""
_ENVIRONMENT = {"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


class DockerUnavailable(RuntimeError):
    """No Docker engine answers, or the sandbox image is missing; the message says how to fix it."""


@dataclass
class DockerSandboxConfig:
    """Settings of the docker sandbox."""

    image: str = DEFAULT_IMAGE
    """Image with /usr/bin/python3 and coreutils; `sandboxes.image.build_image` makes the default one."""
    docker_host: str | None = None
    """Engine address; None: DOCKER_HOST, else scripts/dockerd.sh's socket if present, else Docker's default."""
    limits: Limits = field(default_factory=Limits)
    """Limits of runs that pass none; also sizes the container (memory, pids, tmpfs)."""
    cpus: float = 1.0
    """CPUs the whole container may use."""
    concurrent_runs: int = 2
    """Runs the container is sized for at once (its pids cap); more still work but share the caps."""
    python: str = "/usr/bin/python3"
    """Interpreter inside the image."""
    uid_base: int = 3_000_000
    """First uid of the range runs use (one uid per run; disjoint from the local backend's range)."""
    uid_count: int = 1_000_000
    """Number of uids in that range."""


class DockerSandbox:
    """Runs untrusted code in a hardened long-lived Docker container; see the module docstring."""

    name = "docker"

    def __init__(self, config: DockerSandboxConfig | None = None) -> None:
        self.config = config or DockerSandboxConfig()
        try:
            import docker
        except ImportError as exc:
            raise DockerUnavailable("the docker backend needs the docker SDK: pip install 'kintsugi[docker]'") from exc
        self._docker = docker
        host = engine_address(self.config.docker_host)
        try:
            self._client = docker.DockerClient(base_url=host, timeout=60) if host else docker.from_env(timeout=60)
            self._client.ping()
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(
                f"no Docker engine answers at {host or 'the default socket'} ({exc}); start one with "
                "`scripts/dockerd.sh start` and export the DOCKER_HOST it prints"
            ) from exc
        try:
            self._client.images.get(self.config.image)
        except docker.errors.ImageNotFound:
            self._client.close()
            raise DockerUnavailable(
                f"image {self.config.image} is not in the engine; build it with `kintsugi sandbox build-image` "
                "(sandboxes.image.build_image)"
            ) from None
        self._lock = threading.Lock()
        self._container: Any = None
        self._finalizer: weakref.finalize | None = None
        self._uids_taken: set[int] = set()
        self._random = random.SystemRandom()
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._sweep()

    @property
    def container_id(self) -> str | None:
        """The live container's id (None before the first run and after `close`)."""
        return self._container.id if self._container is not None else None

    def run(
        self,
        code: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        stdin: str | bytes | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run Python `code` (as main.py) or `argv` (through a generated main.py) in the container."""
        if (code is None) == (argv is None):
            raise ValueError("pass exactly one of `code` (Python source) or `argv` (a command line)")
        if argv is not None:
            command = list(argv)
            if not command or not command[0] or not all(isinstance(arg, str) for arg in command):
                raise ValueError(f"argv must be a non-empty sequence of strings, got {argv!r}")
            code = f"import os, sys\nsys.stdout.flush()\nos.execvp({command[0]!r}, {command!r})\n"
        limits = limits or self.config.limits
        _workdir_files(code, files, limits)  # the same checks (names, sizes) as the local backend, before any work
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else stdin
        container = self._ensure_container()
        uid = self._acquire_uid()
        try:
            return self._run(container, uid, code, files, stdin_bytes, limits)
        finally:
            with self._lock:
                self._uids_taken.discard(uid)

    def close(self) -> None:
        """Remove the container (killing whatever runs in it)."""
        with self._lock:
            container, self._container = self._container, None
            finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if container is not None:
            _remove(container)
        self._client.close()

    def _run(
        self,
        container: Any,
        uid: int,
        code: str,
        files: Mapping[str, str | bytes] | None,
        stdin: bytes | None,
        limits: Limits,
    ) -> ExecResult:
        api = self._client.api
        workdir = f"/work/run-{uid}"
        command = [self.config.python, "-I", "-B", "-u", "-c", SERVER_SOURCE, "--workdir", workdir, "--ephemeral"]
        frame = request_frame(1, code, files, stdin, limits, limits.max_processes + 1)
        start = time.monotonic()
        deadline = start + limits.timeout + _REPLY_GRACE
        exec_id = api.exec_create(
            container.id,
            command,
            stdin=True,
            user=f"{uid}:{uid}",
            workdir="/work",
            environment={**_ENVIRONMENT, "HOME": workdir},
        )["Id"]
        stream = api.exec_start(exec_id, socket=True)
        sock: socket.socket = getattr(stream, "_sock", stream)
        try:
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
            out, err, finished = _read_multiplexed(sock, deadline)
        finally:
            with contextlib.suppress(OSError):
                stream.close()
        if not finished:
            self._kill_uid(container, uid)
            return ExecResult(-9, "", "", timed_out=True, duration=time.monotonic() - start)
        duration = time.monotonic() - start
        try:
            ready = parse_frame(out, 0)
            if ready is None or ready[0].get("ready") is not True:
                raise ProtocolError("no ready frame")
            reply = parse_frame(out[ready[2] :], 2 * limits.output_bytes)
            if reply is None or ready[2] + reply[2] != len(out):
                raise ProtocolError("incomplete or trailing reply")
            result, _ = result_from_reply(reply[0], reply[1], 1, limits, duration, oom=False, forks=False)
        except ProtocolError as exc:
            # The run killed its supervisor (or broke it): what it did is not known beyond that.
            self._kill_uid(container, uid)
            logger.info("docker run lost its supervisor (%s); stderr: %s", exc, err[-300:])
            return ExecResult(
                exit_code=-9,
                stdout="",
                stderr="[sandbox: the run killed or broke its supervisor; its output is lost]\n",
                duration=duration,
            )
        if reply[0]["dirty"]:
            self._poison(container, "the run left IPC objects or files that could not be removed")
        return result

    def _ensure_container(self) -> Any:
        with self._lock:
            if self._container is not None:
                return self._container
            limits, config = self.config.limits, self.config
            docker = self._docker
            size = f"size={limits.workdir_mb}m"
            self._container = self._client.containers.run(
                config.image,
                ["sleep", "infinity"],
                detach=True,
                init=True,
                hostname="sandbox",
                user=_IDLE_USER,
                network_mode="none",
                read_only=True,
                tmpfs={"/work": f"{size},uid=65534,gid=65534,mode=1777", "/tmp": f"{size},mode=1777"},
                shm_size=f"{limits.workdir_mb}m",
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                ipc_mode="private",
                mem_limit=f"{limits.memory_mb + 64}m",
                memswap_limit=f"{limits.memory_mb + 64}m",
                pids_limit=(limits.max_processes + 1) * config.concurrent_runs + 4,
                nano_cpus=int(config.cpus * 1e9),
                ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
                environment={**_ENVIRONMENT, "HOME": "/work"},
                labels={LABEL: "1", OWNER_LABEL: self._owner},
            )
            self._finalizer = weakref.finalize(self, _remove, self._container)
            return self._container

    def _acquire_uid(self) -> int:
        with self._lock:
            while True:
                uid = self.config.uid_base + self._random.randrange(self.config.uid_count)
                if uid not in self._uids_taken:
                    self._uids_taken.add(uid)
                    return uid

    def _kill_uid(self, container: Any, uid: int) -> None:
        """SIGKILL every process of `uid` in the container (no setsid escapes it) and remove the uid's files."""
        try:
            done = container.exec_run(
                [self.config.python, "-I", "-c", _CLEAN_UID, f"/work/run-{uid}"], user=f"{uid}:{uid}"
            )
            if done.exit_code != 0:
                raise self._docker.errors.DockerException(done.output.decode(errors="replace")[-300:])
        except self._docker.errors.DockerException as exc:
            self._poison(container, f"cleaning up after uid {uid} failed ({exc})")

    def _poison(self, container: Any, why: str) -> None:
        """Remove a container that can no longer be trusted; the next run starts a fresh one."""
        logger.warning("removing docker sandbox container %s: %s", container.short_id, why)
        with self._lock:
            if self._container is container:
                self._container = None
                if self._finalizer is not None:
                    self._finalizer.detach()
                    self._finalizer = None
        _remove(container)

    def _sweep(self) -> None:
        """Remove containers of this machine whose owning process is gone (killed before it could close them)."""
        host = socket.gethostname()
        try:
            containers = self._client.containers.list(all=True, filters={"label": LABEL})
        except self._docker.errors.DockerException:
            return
        for container in containers:
            owner_host, _, pid = container.labels.get(OWNER_LABEL, "").rpartition(":")
            if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                logger.info("removing docker sandbox container %s left by dead process %s", container.short_id, pid)
                _remove(container)


def _read_multiplexed(sock: socket.socket, deadline: float) -> tuple[bytes, str, bool]:
    """Read Docker's multiplexed stdout/stderr stream to its end: (stdout, stderr, ended before `deadline`)."""
    buffer = bytearray()
    out, err = bytearray(), bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(out), err.decode(errors="replace"), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        except OSError:
            chunk = b""
        if chunk:
            buffer += chunk
        while len(buffer) >= _MUX.size:
            kind, size = _MUX.unpack_from(buffer)
            if len(buffer) < _MUX.size + size:
                break
            (out if kind == 1 else err).extend(buffer[_MUX.size : _MUX.size + size])
            del buffer[: _MUX.size + size]
        if not chunk:
            return bytes(out), err.decode(errors="replace"), True


def _remove(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
