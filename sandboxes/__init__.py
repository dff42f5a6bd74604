"""Sandboxes that run untrusted, model-written code: the protocol, its types and the backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandboxes.local import LocalSandbox, LocalSandboxConfig
from sandboxes.types import ExecResult, Limits, Sandbox
from sandboxes.warm import WarmPool

__all__ = [
    "BACKENDS",
    "ExecResult",
    "Limits",
    "LocalSandbox",
    "LocalSandboxConfig",
    "Sandbox",
    "WarmPool",
    "make_sandbox",
]


def _docker(**kwargs: Any) -> Sandbox:
    """The docker backend, imported only when asked for (it needs the optional `docker` package)."""
    from sandboxes.docker import DockerSandbox

    return DockerSandbox(**kwargs)


BACKENDS: dict[str, Callable[..., Sandbox]] = {"local": LocalSandbox, "local-warm": WarmPool, "docker": _docker}
"""Sandbox backends by name; each factory takes the backend's keyword arguments."""


def make_sandbox(name: str = "local", **kwargs: Any) -> Sandbox:
    """Create the sandbox backend called `name` (see `BACKENDS`) with `kwargs`."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown sandbox backend {name!r}; known backends: {known}") from None
    return factory(**kwargs)
