"""Safe arithmetic for the `calculate` tool: an expression is parsed with `ast` and walked, never evaluated."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from environments.tools.schema import ToolError

MAX_CHARS = 200
"""Longer expressions are refused."""
MAX_EXPONENT = 100
"""The largest power allowed (`2 ** 100`)."""
MAX_MAGNITUDE = 10**100
"""Results (and intermediate values) beyond this are refused."""
DIGITS = 6
"""Results are rounded to this many decimals."""
ALLOWED = "numbers, + - * / // % ** and parentheses"
"""What an expression may contain, in words."""

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolError(f"exponent {right} is too large (at most {MAX_EXPONENT})")
        try:
            out = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large") from None
        if isinstance(out, complex) or not math.isfinite(out) or abs(out) > MAX_MAGNITUDE:
            raise ToolError("the result is too large or not a real number")
        return out
    raise ToolError(f"only {ALLOWED} are allowed")


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression, rounded to `DIGITS` decimals (whole numbers as ints).

    ToolError says what is wrong: not arithmetic, too long, division by zero, too large.
    """
    if len(expression) > MAX_CHARS:
        raise ToolError(f"the expression is longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise ToolError(f"{expression!r} is not an arithmetic expression; use {ALLOWED}") from None
    try:
        value = _value(tree.body)
    except ToolError as exc:
        raise ToolError(f"{expression!r}: {exc}") from None
    if isinstance(value, int):
        return value
    rounded = round(value, DIGITS)
    return int(rounded) if rounded.is_integer() else rounded
