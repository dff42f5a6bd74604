"""Finding the code in a model's reply."""

from __future__ import annotations

import ast
import re

CODE_BLOCK_END = "```\n\n"
"""Stop sequence for code replies: a closing fence followed by a blank line, where explanations begin."""

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in ast.walk(tree))


def extract_code(reply: str, entry_point: str) -> str | None:
    """The first code block that defines `entry_point`, else the whole reply if it is such code, else None.

    Later blocks are usually "example usage" and are often invalid, so only the first defining block counts.
    An unterminated fence (reply cut by max_tokens) counts up to the end of the reply.
    """
    for match in _FENCE.finditer(reply):
        lang, body = match.group(1).lower(), match.group(2)
        if lang in ("", "python", "py", "python3") and _defines(body, entry_point):
            return body.rstrip() + "\n"
    if _defines(reply, entry_point):
        return reply.rstrip() + "\n"
    return None


def close_code_block(reply: str) -> str:
    """`reply` with its last code block closed, if a stop sequence cut the closing fence off."""
    if reply.count("```") % 2 == 1:
        return reply.rstrip("\n") + "\n```"
    return reply
