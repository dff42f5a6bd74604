"""Shared fixtures and hooks.

The containment table: tests that add a ("containment", (backend, attack)) user property are summed up at the end
of the session as backend x attack -> contained / ESCAPED / skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_store_left_in_the_working_directory() -> Iterator[None]:
    """A test must write its stores under tmp_path: one that leaves a `kintsugi.db` in the directory pytest runs in
    (a command run with its default `--out`, say) fails here, and the file is removed."""
    stray = Path.cwd() / "kintsugi.db"
    before = stray.exists()
    yield
    if not before and stray.exists():
        stray.unlink()
        pytest.fail(f"the test left {stray} behind: give its commands an --out under tmp_path", pytrace=False)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The default local sandbox, shared by the whole session."""
    from sandboxes import make_sandbox

    box = make_sandbox("local")
    yield box
    box.close()


@pytest.fixture(scope="session")
def llm() -> Any:
    """The embedded transformers backend with the shipped model, loaded once per session."""
    from agents.llm import make_llm

    return make_llm("transformers")


@pytest.fixture
def tools_conversation() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A tools task's conversation in text form after the expert's first call and its result, with the task's tool
    specs: what the backends' tool-call tests turn into the native form."""
    from environments.base import get_entry

    entry = get_entry("tools")
    task = next(t for t in entry.load_tasks(None, "test", None) if t.data["template"] == "message")
    env = entry.make(task)
    obs, _ = env.reset()
    text = [{"role": "system", "content": entry.system_prompt}, {"role": "user", "content": obs}]
    first = entry.expert(env)[0]
    text += [{"role": "assistant", "content": first}, {"role": "user", "content": env.step(first)[0]}]
    return text, entry.tool_specs(task)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    outcomes: dict[tuple[str, str], str] = {}
    for status, word in (("passed", "contained"), ("failed", "ESCAPED"), ("error", "ERROR"), ("skipped", "skipped")):
        for report in terminalreporter.stats.get(status, []):
            for key, value in getattr(report, "user_properties", ()):
                if key == "containment" and (word != "contained" or tuple(value) not in outcomes):
                    outcomes[tuple(value)] = word
    if not outcomes:
        return
    backends = sorted({backend for backend, _ in outcomes})
    attacks = list(dict.fromkeys(attack for _, attack in outcomes))
    width = max(len(attack) for attack in attacks)
    terminalreporter.section("containment (backend x attack)")
    terminalreporter.write_line(" " * width + "  " + "  ".join(f"{backend:>10}" for backend in backends))
    for attack in attacks:
        cells = "  ".join(f"{outcomes.get((backend, attack), '-'):>10}" for backend in backends)
        terminalreporter.write_line(f"{attack:<{width}}  {cells}")
