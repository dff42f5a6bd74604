"""Code tasks judged by unit tests in a sandbox (HumanEval/MBPP-style jsonl suites)."""

from __future__ import annotations

from typing import Any

from environments.base import EnvEntry, TaskSpec, register
from environments.code.env import SYSTEM_PROMPT, CodeEnv, CodeEnvConfig
from environments.code.expert import expert_replies, reference_reply
from environments.code.extract import CODE_BLOCK_END, close_code_block
from environments.code.tasks import BUILTIN_SUITES, TaskFileError, load_code_tasks


def make_code_env(
    task: TaskSpec,
    *,
    sandbox: Any = None,
    max_attempts: int = 3,
    config: CodeEnvConfig | None = None,
    **_: Any,
) -> CodeEnv:
    """A code env for `task`; makes a local sandbox when none is given. Other runner options are ignored."""
    if sandbox is None:
        from sandboxes import make_sandbox

        sandbox = make_sandbox("local")
    cfg = config or CodeEnvConfig(max_attempts=max_attempts)
    return CodeEnv(task, sandbox, cfg)


def code_resources() -> dict[str, Any]:
    """One local sandbox shared by a job's code episodes."""
    from sandboxes import make_sandbox

    return {"sandbox": make_sandbox("local")}


register(
    EnvEntry(
        name="code",
        load_tasks=lambda suite=None, split=None, limit=None: load_code_tasks(suite or "easy", split, limit),
        make=make_code_env,
        system_prompt=SYSTEM_PROMPT,
        parse_action=str,
        stop=(CODE_BLOCK_END,),
        complete_reply=close_code_block,
        max_tokens=384,
        suites=BUILTIN_SUITES,
        splits=("train", "test"),
        eval_split="test",
        expert=expert_replies,
        resources=code_resources,
        default_suite="easy",
        max_steps=None,
        ttsi="environments.code.ttsi:code_ttsi",
        consistency="environments.code.consistency",
    )
)

__all__ = ["CodeEnv", "CodeEnvConfig", "TaskFileError", "load_code_tasks", "make_code_env", "reference_reply"]
