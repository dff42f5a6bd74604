"""Tool parameters: their JSON schema (OpenAI function format) and the checks of a call's arguments."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("string", "integer", "number", "date", "time", "email")
"""What a parameter can hold; `date`, `time` and `email` are strings of a fixed shape."""
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


class ToolError(ValueError):
    """A tool call that cannot be carried out; its message is what the agent is shown."""


@dataclass(frozen=True)
class Param:
    """One argument of a tool."""

    name: str
    """Argument name."""
    kind: str = "string"
    """One of `KINDS`."""
    description: str = ""
    """What it is, for the agent (left out of the schema when empty)."""
    required: bool = True
    """Whether a call must give it."""
    enum: tuple[str, ...] = ()
    """The only values allowed (strings; empty: any)."""
    minimum: int | None = None
    """The smallest value allowed (numbers)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name!r} has kind {self.kind!r}; use one of {', '.join(KINDS)}")

    def schema(self) -> dict[str, Any]:
        """This parameter's JSON schema."""
        out: dict[str, Any] = {"type": self.kind if self.kind in ("integer", "number") else "string"}
        if self.kind in ("date", "email"):
            out["format"] = self.kind
        if self.description:
            out["description"] = self.description
        if self.enum:
            out["enum"] = list(self.enum)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        return out

    def check(self, value: Any) -> Any:
        """`value` if it fits (integral floats become ints); ToolError saying what was expected otherwise."""
        expected = _expected(self, value)
        if expected is not None:
            raise ToolError(f"argument {self.name!r} must be {expected}, got {show(value)}")
        if self.kind == "integer" and isinstance(value, float):
            return int(value)
        return value


def show(value: Any) -> str:
    """A value as the agent wrote it: strings in single quotes, the rest as JSON."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _expected(param: Param, value: Any) -> str | None:
    """What `value` should have been, or None when it fits `param`."""
    if param.kind in ("integer", "number"):
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if param.kind == "integer" and not (is_number and float(value).is_integer()):
            return "an integer"
        if not is_number:
            return "a number"
        if param.minimum is not None and value < param.minimum:
            return f"at least {param.minimum}"
        return None
    if not isinstance(value, str):
        return "a string"
    if not value.strip():
        return "a non-empty string"
    if param.kind == "date":
        try:
            ok = _DATE.fullmatch(value) is not None and dt.date.fromisoformat(value) is not None
        except ValueError:
            ok = False
        return None if ok else "a date YYYY-MM-DD"
    if param.kind == "time" and not _TIME.fullmatch(value):
        return "a time HH:MM (24-hour)"
    if param.kind == "email" and not _EMAIL.fullmatch(value):
        return "an email address like ann.lee@example.com"
    if param.enum and value not in param.enum:
        return f"one of {', '.join(param.enum)}"
    return None


def parameters_schema(params: Sequence[Param]) -> dict[str, Any]:
    """The JSON schema of a tool's arguments object."""
    return {
        "type": "object",
        "properties": {p.name: p.schema() for p in params},
        "required": [p.name for p in params if p.required],
        "additionalProperties": False,
    }


def check_arguments(params: Sequence[Param], arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments checked against `params`; ToolError names a missing, unknown or ill-typed one."""
    names = [p.name for p in params]
    listed = ", ".join(names) or "none"
    missing = [p.name for p in params if p.required and p.name not in arguments]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ToolError(f"missing argument{plural} {', '.join(map(repr, missing))} (arguments: {listed})")
    extra = [k for k in arguments if k not in names]
    if extra:
        plural = "s" if len(extra) > 1 else ""
        raise ToolError(f"unknown argument{plural} {', '.join(map(repr, extra))} (arguments: {listed})")
    return {p.name: p.check(arguments[p.name]) for p in params if p.name in arguments}
