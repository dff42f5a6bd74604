"""Building the docker backend's Python image locally, with no registry: debootstrap, then `docker import`.

A minimal Debian (`debootstrap --variant=minbase --include=python3`) is bootstrapped from the apt mirror this
machine is configured with, trimmed of apt's caches, and streamed as a tar into the engine at `DOCKER_HOST`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "kintsugi-python:bookworm"
"""The image the docker backend uses unless told otherwise."""
DEFAULT_MIRROR = "http://deb.debian.org/debian"
"""Debian mirror used when none is configured in /etc/apt."""
IMAGE_LABEL = "kintsugi.image"
"""Label set on images built here (its value is the suite)."""
KINTSUGI_DOCKER_SOCK = "/run/kintsugi-docker.sock"
"""Where `scripts/dockerd.sh start` puts its engine's socket."""


def engine_address(configured: str | None = None) -> str | None:
    """The engine to use: `configured`, else DOCKER_HOST, else the engine of scripts/dockerd.sh if it runs, else
    None (the SDK's default socket)."""
    if configured:
        return configured
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    return f"unix://{KINTSUGI_DOCKER_SOCK}" if os.path.exists(KINTSUGI_DOCKER_SOCK) else None


_CHUNK = 1 << 20
_APT_SOURCES = Path("/etc/apt")
_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "var/log", "usr/share/doc", "usr/share/man")


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says which step failed and what to do."""


def build_image(
    tag: str = DEFAULT_IMAGE,
    *,
    suite: str = "bookworm",
    mirror: str | None = None,
    packages: Sequence[str] = ("python3",),
    docker_host: str | None = None,
    rebuild: bool = False,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Build `tag` from a debootstrapped Debian `suite` with `packages`; return the image id.

    An existing `tag` is kept (and its id returned) unless `rebuild`. `mirror` defaults to the Debian mirror in
    /etc/apt (else deb.debian.org). `docker_host` defaults to `engine_address()`. The root filesystem is made under
    `scratch_dir` (default: the system temp dir) and removed afterwards. Needs root and `debootstrap`.
    """
    import docker  # the optional `docker` extra; imported here so the default install does not need it

    docker_host = engine_address(docker_host)
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=600) if docker_host else docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ImageBuildError(
            f"no Docker engine answers at {docker_host or 'the default socket'} "
            f"({exc}); start one with `scripts/dockerd.sh start` and export the DOCKER_HOST it prints"
        ) from exc
    try:
        if not rebuild:
            with contextlib.suppress(docker.errors.ImageNotFound):
                image = client.images.get(tag)
                logger.info("image %s exists (%s); pass rebuild=True to build it again", tag, image.id)
                return str(image.id)
        mirror = mirror or configured_mirror()
        with tempfile.TemporaryDirectory(prefix="kintsugi-rootfs-", dir=scratch_dir) as scratch:
            rootfs = Path(scratch) / "rootfs"
            try:
                _debootstrap(rootfs, suite, mirror, packages)
                _trim(rootfs)
                image_id = _import(client, rootfs, tag, suite)
            finally:
                _unmount_under(rootfs)
        logger.info("built image %s (%s)", tag, image_id)
        return image_id
    finally:
        client.close()


def configured_mirror(sources_dir: Path = _APT_SOURCES) -> str:
    """The Debian archive URI in this machine's apt sources (deb822 or one-line), else `DEFAULT_MIRROR`."""
    candidates: list[str] = []
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in (".list", ".sources"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
                if fields.get("Types", "deb").split() and "deb" in fields.get("Types", "deb").split():
                    candidates += fields.get("URIs", "").split()
        else:
            for line in text.splitlines():
                found = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
                if found:
                    candidates.append(found[1])
    for uri in candidates:
        if uri.startswith(("http://", "https://")) and uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _debootstrap(rootfs: Path, suite: str, mirror: str, packages: Sequence[str]) -> None:
    program = shutil.which("debootstrap")
    if program is None:
        raise ImageBuildError(
            "debootstrap is not installed: apt-get install -y debootstrap (or scripts/dockerd.sh install)"
        )
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root; run the image build as root")
    command = [program, "--variant=minbase", f"--include={','.join(packages)}", suite, str(rootfs), mirror]
    logger.info("running %s", " ".join(command))
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise ImageBuildError(
            f"debootstrap of {suite} from {mirror} failed (exit {done.returncode}); check that the mirror is "
            f"reachable or pass mirror=...:\n{tail}"
        )
    logger.info("debootstrap took %.0f s", time.monotonic() - start)


def _trim(rootfs: Path) -> None:
    """Drop apt's caches, logs and docs, which the sandbox never needs."""
    for relative in _TRIM:
        directory = rootfs / relative
        if directory.is_dir() and not directory.is_symlink():
            for child in directory.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()


def _import(client: Any, rootfs: Path, tag: str, suite: str) -> str:
    """Stream `tar -C rootfs -c .` into `docker import` and return the new image's id."""
    repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"LABEL {IMAGE_LABEL}={suite}",
    ]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert tar.stdout is not None

    def chunks() -> Iterator[bytes]:
        while chunk := tar.stdout.read(_CHUNK):
            yield chunk

    try:
        answer = client.api.import_image_from_stream(chunks(), repository=repository, tag=version, changes=changes)
    finally:
        tar.stdout.close()
        stderr = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
        tar.wait()
    if tar.returncode != 0:
        raise ImageBuildError(f"tar of the root filesystem failed (exit {tar.returncode}): {stderr.strip()}")
    found = re.search(r"sha256:[0-9a-f]{64}", str(answer))
    if not found:
        raise ImageBuildError(f"docker import of {tag} gave no image id; the engine said: {answer!r}")
    return found[0]


def _unmount_under(root: Path) -> None:
    """Unmount what a failed debootstrap may have left mounted inside `root` (e.g. proc, sys), deepest first."""
    prefix = str(root.resolve()) + "/"
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    inside = sorted((m.encode().decode("unicode_escape") for m in mounts if m.startswith(prefix)), reverse=True)
    for mount in inside:
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    if inside:
        logger.warning("unmounted %d leftover mounts under %s", len(inside), root)
