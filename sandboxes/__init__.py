"""Sandboxes that run untrusted, model-written code: the protocol, its types and the backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandboxes.local import LocalSandbox, LocalSandboxConfig
from sandboxes.types import ExecResult, Limits, Sandbox

__all__ = ["BACKENDS", "ExecResult", "Limits", "LocalSandbox", "LocalSandboxConfig", "Sandbox", "make_sandbox"]

BACKENDS: dict[str, Callable[..., Sandbox]] = {"local": LocalSandbox}
"""Sandbox backends by name; each factory takes the backend's keyword arguments."""


def make_sandbox(name: str = "local", **kwargs: Any) -> Sandbox:
    """Create the sandbox backend called `name` (see `BACKENDS`) with `kwargs`."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown sandbox backend {name!r}; known backends: {known}") from None
    return factory(**kwargs)
