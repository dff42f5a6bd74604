"""Tool calls in OpenAI's format, and the text format they take for models whose chat template has no tools.

Natively, a request carries `tools` (OpenAI function specs), an assistant message carries `tool_calls`
(`{"id", "type": "function", "function": {"name", "arguments": <JSON string>}}`) and each result comes back as a
`{"role": "tool", "tool_call_id", "content"}` message. A backend whose chat template renders tools passes all of
that to the template. For the others (SmolLM2's template has no tools) Kintsugi's fallback turns the conversation
into plain messages, `plain_messages`:

- the tools are listed under the first user message, after a `Tools:` line, one compact JSON spec per line;
- an assistant's tool call is written in its reply as Hermes/Qwen-style tags (what vLLM's `hermes` parser reads):
  `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`;
- a tool's result is a user message holding the result.

and `parse_tool_calls` reads the calls back out of the reply text. A reply with `<tool_call>` whose JSON is
malformed yields no call: the text stays as it is, for the environment to answer with an error observation.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agents.types import Completion

CALL_START = "<tool_call>"
CALL_END = "</tool_call>"
TOOLS_HEADER = "Tools:"
"""The line the fallback puts before the tool specs under the first user message."""

_CALL = re.compile(re.escape(CALL_START) + r"(.*?)(?:" + re.escape(CALL_END) + r"|\Z)", re.S)


def supports_tools(chat_template: str | None) -> bool:
    """Whether a chat template renders `tools` itself (it mentions them); else the fallback is used."""
    return bool(chat_template) and "tools" in chat_template  # type: ignore[operator]


def tools_block(tools: Sequence[dict[str, Any]]) -> str:
    """What the fallback appends to the first user message: a `Tools:` line and one compact JSON spec per line."""
    return "\n".join(["", TOOLS_HEADER, *(json.dumps(t, separators=(",", ":")) for t in tools)])


def call_text(call: dict[str, Any]) -> str:
    """One OpenAI-format tool call as the fallback writes it in a reply."""
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        with contextlib.suppress(json.JSONDecodeError):  # else kept as written; the environment says what is wrong
            arguments = json.loads(arguments)
    body = json.dumps({"name": function.get("name"), "arguments": arguments}, ensure_ascii=False)
    return f"{CALL_START}\n{body}\n{CALL_END}"


def reply_text(content: str | None, calls: Sequence[dict[str, Any]]) -> str:
    """A whole assistant reply in the fallback's text form: its content, then each call in tags."""
    parts = [content.rstrip()] if content and content.strip() else []
    parts.extend(call_text(c) for c in calls)
    return "\n".join(parts)


def parse_tool_calls(text: str, *, first_id: int = 0) -> tuple[str, list[dict[str, Any]]]:
    """The content before the first call and the calls in a reply (OpenAI format, ids `call_<n>`); no calls when
    the reply has none or a call's JSON is not an object with a string `name`."""
    calls: list[dict[str, Any]] = []
    for index, match in enumerate(_CALL.finditer(text)):
        body = match.group(1).strip()
        if body.startswith("```"):  # a call written as a fenced JSON block
            body = body.strip("`").removeprefix("json").strip()
        try:
            payload, _ = json.JSONDecoder().raw_decode(body)
        except (json.JSONDecodeError, RecursionError):
            return text, []
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            return text, []
        arguments = payload.get("arguments", {})
        calls.append(
            {
                "id": f"call_{first_id + index}",
                "type": "function",
                "function": {"name": payload["name"], "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    if not calls:
        return text, []
    return text[: text.find(CALL_START)].rstrip(), calls


def plain_messages(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The fallback: a conversation with tools, tool calls and tool results as plain role/content messages."""
    out: list[dict[str, str]] = []
    listed = not tools
    for message in messages:
        role, content = message["role"], message.get("content") or ""
        if role == "user" and not listed:
            content, listed = content + tools_block(tools or ()), True
        if role == "assistant" and message.get("tool_calls"):
            content = reply_text(content, message["tool_calls"])
        if role == "tool":
            role = "user"
        out.append({"role": role, "content": content})
    return out


def native_messages(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inverse of `plain_messages`: the tools block leaves the first user message, replies with calls get
    `tool_calls`, and the user message after a call becomes its `tool` result."""
    out: list[dict[str, Any]] = []
    block = tools_block(tools)
    listed = False
    pending: list[dict[str, Any]] = []
    count = 0
    for message in messages:
        role, content = message["role"], message.get("content") or ""
        if role == "user" and not listed:
            content, listed = content.removesuffix(block), True
            out.append({"role": "user", "content": content})
            continue
        if role == "assistant":
            text, calls = parse_tool_calls(content, first_id=count)
            count += len(calls)
            pending = calls
            out.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
            continue
        if role == "user" and pending:
            out.append({"role": "tool", "tool_call_id": pending[0]["id"], "content": content})
            pending = []
            continue
        out.append(dict(message))
    return out


def with_tool_calls(completion: Completion) -> Completion:
    """A fallback-form completion with the calls its text holds in `tool_calls` (the text stays the raw reply)."""
    _, calls = parse_tool_calls(completion.text)
    return replace(completion, tool_calls=tuple(calls)) if calls else completion
