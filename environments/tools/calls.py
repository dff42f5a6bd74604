"""The reply format: a tool call in `<tool_call>` tags (Hermes/Qwen style, `agents.tool_calls`' text form), or a plain
final answer.

    <tool_call>
    {"name": "contacts_search", "arguments": {"name": "Ann"}}
    </tool_call>

Text before the tag (a thought) is allowed; only the first call of a reply counts. A reply without
`<tool_call>` is the final answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents.tool_calls import CALL_END, CALL_START, call_text

__all__ = ["CALL_END", "CALL_START", "Answer", "CallError", "ToolCall", "close_tool_call", "parse_reply", "render_call"]


@dataclass(frozen=True)
class ToolCall:
    """A call the agent asked for."""

    name: str
    """The tool."""
    arguments: dict[str, Any] = field(default_factory=dict)
    """Its arguments, as sent."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments)}


@dataclass(frozen=True)
class Answer:
    """A final answer: the reply had no tool call."""

    text: str
    """The reply, stripped."""


@dataclass(frozen=True)
class CallError:
    """A reply that tried to call a tool but did not say which tool or with what in valid JSON."""

    message: str
    """What is wrong, for the agent."""


def parse_reply(reply: str) -> ToolCall | Answer | CallError:
    """Read a model reply: its first tool call, else the final answer; a malformed call is a `CallError`."""
    start = reply.find(CALL_START)
    if start < 0:
        return Answer(reply.strip())
    body = reply[start + len(CALL_START) :]
    end = body.find(CALL_END)
    body = (body if end < 0 else body[:end]).strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        return CallError(f'the tool call is not valid JSON: {exc}; write {{"name": ..., "arguments": {{...}}}}')
    except RecursionError:
        return CallError("the tool call's JSON is nested too deeply")
    if not isinstance(data, dict):
        return CallError('the tool call must be a JSON object: {"name": ..., "arguments": {...}}')
    name = data.get("name")
    if not isinstance(name, str) or not name:
        return CallError('the tool call has no "name" (a string naming the tool)')
    arguments = data.get("arguments", {})
    if not isinstance(arguments, dict):
        return CallError(f'"arguments" must be a JSON object, got {json.dumps(arguments)}')
    return ToolCall(name, arguments)


def render_call(call: ToolCall) -> str:
    """A call in the reply format (what the expert sends)."""
    return call_text(call.to_dict())


def close_tool_call(reply: str) -> str:
    """`reply` with its tool call closed, if the stop sequence cut `</tool_call>` off."""
    start = reply.find(CALL_START)
    if start >= 0 and CALL_END not in reply[start:]:
        return reply.rstrip() + "\n" + CALL_END
    return reply
