"""Test-time self-improvement (TT-SI, TT-D, TT-ICL) on code tasks, one answer per task.

For each test input:
1. Self-awareness: the greedy answer plus sampled ones are the candidates; distinct candidates (by normalised code)
   are scored with `LLM.score`; p = softmax(-NLL), u = p(1) - p(2); uncertain when u < tau (other estimators in
   `training.uncertainty`).
2. Self-data augmentation (uncertain inputs only): the model (TT-SI) or a teacher (TT-D, any `LLM`) writes K
   similar tasks, each a function with a docstring and asserts. Going past the paper, the sandbox runs each
   solution against its own asserts and keeps only those that pass.
3. Self-improvement: TT-SI/TT-D fit a temporary LoRA (`training.ttsi.adapted`) on the kept examples, answer, then
   remove it so the base weights are exactly as before. TT-ICL puts the examples in the context instead. Confident
   inputs keep the base model's greedy answer.
"""

from __future__ import annotations

import ast
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from agents.types import LLM, Messages
from environments.base import EnvEntry, TaskSpec
from training.ttsi import (
    EXPERT_TEACHER,
    VARIANTS,
    InputResult,
    TTSIConfig,
    TTSIOptions,
    TTSIReport,
    _require_transformers,
    fit_lora,
    temporary_lora,
)
from training.uncertainty import ESTIMATORS, judge

log = logging.getLogger(__name__)

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)

SYNTH_SYSTEM = "You are an expert Python programmer who writes small programming exercises with tests."


def normalize_code(reply: str, entry_point: str) -> str:
    """The answer's code with formatting and comments removed (for comparing candidates); the raw reply if none."""
    from environments.code.extract import extract_code

    code = extract_code(reply, entry_point)
    if code is None:
        return reply.strip()
    try:
        return ast.unparse(ast.parse(code))
    except SyntaxError:
        return code.strip()


def _grade(task: TaskSpec, reply: str, sandbox: Any) -> bool:
    from environments.code.extract import extract_code
    from environments.code.grading import build_program
    from sandboxes.types import Limits

    entry = task.data["entry_point"]
    code = extract_code(reply, entry)
    if code is None:
        return False
    program = build_program(task.data["prompt"], code, task.data["test"], entry)
    return sandbox.run(program, limits=Limits(timeout=10.0, cpu_seconds=10, memory_mb=1024)).ok


_SHOT_TASK = (
    'def count_digits(s: str) -> int:\n    """Return how many characters of s are digits 0-9.\n'
    '    >>> count_digits("a1b22")\n    3\n    """\n'
)
_SHOT_REPLY = (
    '```python\ndef count_spaces(s: str) -> int:\n    """Return how many characters of s are spaces."""\n'
    '    return sum(1 for ch in s if ch == " ")\n\nassert count_spaces("a b c") == 2\n'
    'assert count_spaces("") == 0\nassert count_spaces("abc") == 0\n```'
)


def _synthesis_ask(prompt: str) -> str:
    return (
        "Write a new exercise similar to this one, with its solution and three assert tests, in one ```python "
        f"block:\n\n```python\n{prompt.rstrip()}\n```"
    )


def _synthesis_request(task: TaskSpec) -> Messages:
    """One worked example (small models follow a shown format far better than a described one), then the task."""
    return [
        {"role": "system", "content": SYNTH_SYSTEM},
        {"role": "user", "content": _synthesis_ask(_SHOT_TASK)},
        {"role": "assistant", "content": _SHOT_REPLY},
        {"role": "user", "content": _synthesis_ask(task.data["prompt"])},
    ]


def _prompt_imports(prompt: str) -> str:
    """The import lines of a task prompt (e.g. `from typing import List`), which written examples inherit."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return ast.unparse(ast.Module(body=imports, type_ignores=[])) if imports else ""


@dataclass(frozen=True)
class SyntheticTask:
    """A model-written exercise that passed its own asserts."""

    entry_point: str
    prompt: str
    """Signature and docstring, with the asserts as examples (the form of the real tasks' prompts)."""
    solution: str
    """The function (and its imports)."""
    tests: str
    """The assert lines."""


def parse_synthetic(reply: str, imports: str = "") -> SyntheticTask | None:
    """The exercise in a written reply: a module-level function plus asserts that call it; None when malformed.

    `imports` (the original task's import lines) are put in front of the reply's code.
    """
    blocks = [m.group(2) for m in _FENCE.finditer(reply) if m.group(1).lower() in ("", "python", "py", "python3")]
    source = blocks[0] if blocks else reply
    if imports:
        source = f"{imports}\n{source}"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    asserts = [n for n in tree.body if isinstance(n, ast.Assert)]
    called = {
        c.func.id for a in asserts for c in ast.walk(a) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
    }
    targets = [f for f in funcs if f.name in called]
    if not targets or not asserts:
        return None
    main = targets[0]
    keep = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef)]
    solution = ast.unparse(ast.Module(body=keep, type_ignores=[]))
    tests = "\n".join(ast.unparse(a) for a in asserts)
    doc = ast.get_docstring(main) or f"Implement {main.name}."
    header = ast.unparse(ast.Module(body=[_signature(main)], type_ignores=[])).splitlines()[0]
    examples = "\n".join(f"    {line}" for line in tests.splitlines())
    prompt = f'{header}\n    """{doc.strip()}\n\n    Examples:\n{examples}\n    """\n'
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    if imports:
        prompt = ast.unparse(ast.Module(body=imports, type_ignores=[])) + "\n\n\n" + prompt
    return SyntheticTask(entry_point=main.name, prompt=prompt, solution=solution, tests=tests)


def _signature(func: ast.FunctionDef) -> ast.FunctionDef:
    return ast.FunctionDef(
        name=func.name,
        args=func.args,
        body=[ast.Pass()],
        decorator_list=[],
        returns=func.returns,
        type_params=[],
        lineno=func.lineno,
    )


def synthesize_code_examples(
    writer: LLM, task: TaskSpec, config: TTSIConfig, sandbox: Any, *, system_prompt: str
) -> tuple[list[Messages], int]:
    """Up to `config.k` verified training conversations similar to `task`; returns them and how many were written."""
    from environments.code.env import task_prompt
    from sandboxes.types import Limits

    wanted = config.k * config.synthesis_tries
    replies = writer.generate(
        _synthesis_request(task),
        n=wanted,
        temperature=config.synthesis_temperature,
        max_tokens=config.synthesis_max_tokens,
        stop=["```\n\n"],
        seed=config.seed,
    )
    imports = _prompt_imports(task.data["prompt"])
    kept: list[Messages] = []
    seen: set[str] = set()
    written = 0
    for reply in replies:
        synthetic = parse_synthetic(reply.text, imports)
        if synthetic is None:
            continue
        written += 1
        if synthetic.solution in seen:
            continue
        result = sandbox.run(
            f"{synthetic.solution}\n\n{synthetic.tests}\n", limits=Limits(timeout=5.0, cpu_seconds=5, memory_mb=512)
        )
        if not result.ok:
            continue
        seen.add(synthetic.solution)
        spec = TaskSpec(
            task_id="synthetic", instruction="", data={"entry_point": synthetic.entry_point, "prompt": synthetic.prompt}
        )
        kept.append(
            [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": task_prompt(spec)},
                {"role": "assistant", "content": f"```python\n{synthetic.solution}\n```"},
            ]
        )
        if len(kept) >= config.k:
            break
    return kept, written


def run_ttsi(
    llm: LLM,
    tasks: Sequence[TaskSpec],
    config: TTSIConfig,
    *,
    teacher: LLM | None = None,
    sandbox: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> TTSIReport:
    """Base model vs `config.variant` on code `tasks` (greedy answers, one attempt, judged by the tasks' tests)."""
    reports = run_ttsi_variants(
        llm, tasks, config, [config.variant], teacher=teacher, sandbox=sandbox, on_progress=on_progress
    )
    return reports[config.variant]


def run_ttsi_variants(
    llm: LLM,
    tasks: Sequence[TaskSpec],
    config: TTSIConfig,
    variants: Sequence[str],
    *,
    teacher: LLM | None = None,
    sandbox: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, TTSIReport]:
    """Several variants on the same inputs, sharing the base answers, the uncertainty verdicts and the written
    examples (so their differences come from how the examples are used). `config.variant` is ignored."""
    from environments.base import get_entry
    from environments.code.env import task_prompt

    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown TT-SI variant {variant!r}; use one of {', '.join(VARIANTS)}")
    if config.estimator not in ESTIMATORS:
        raise ValueError(f"unknown uncertainty estimator {config.estimator!r}; use one of {', '.join(ESTIMATORS)}")
    if "tt-d" in variants and teacher is None:
        raise ValueError("variant tt-d needs a teacher model (--teacher) to write the examples")
    if any(v in ("tt-si", "tt-d") for v in variants):
        _require_transformers(llm)
    entry = get_entry("code")
    owns_sandbox = sandbox is None
    if sandbox is None:
        from sandboxes import make_sandbox

        sandbox = make_sandbox("local")
    reports = {v: TTSIReport(variant=v, config=asdict(replace(config, variant=v))) for v in variants}
    stop = list(entry.stop)
    try:
        for index, task in enumerate(tasks):
            messages: Messages = [
                {"role": "system", "content": entry.system_prompt},
                {"role": "user", "content": task_prompt(task)},
            ]
            rows = _one_input(
                llm, teacher or llm, task, messages, config, variants, sandbox, stop, entry.complete_reply
            )
            for variant, row in rows.items():
                reports[variant].results.append(row)
            if on_progress:
                on_progress(index + 1, len(tasks))
    finally:
        if owns_sandbox:
            sandbox.close()
    return reports


def _one_input(
    llm: LLM,
    writer: LLM,
    task: TaskSpec,
    messages: Messages,
    config: TTSIConfig,
    variants: Sequence[str],
    sandbox: Any,
    stop: list[str],
    complete: Callable[[str], str],
) -> dict[str, InputResult]:
    entry_point = task.data["entry_point"]
    greedy = llm.generate(messages, max_tokens=config.answer_max_tokens, stop=stop)[0]
    base_reply = complete(greedy.text)
    samples = []
    if config.num_candidates > 1:
        samples = llm.generate(
            messages,
            n=config.num_candidates - 1,
            temperature=config.candidate_temperature,
            max_tokens=config.answer_max_tokens,
            stop=stop,
            seed=config.seed,
        )
    replies = [base_reply, *(complete(c.text) for c in samples)]
    normalized = [normalize_code(r, entry_point) for r in replies]
    distinct: dict[str, str] = {}
    for norm, reply in zip(normalized, replies, strict=True):
        distinct.setdefault(norm, reply)
    nlls = None
    if config.estimator == "margin":
        scores = llm.score(messages, list(distinct.values()))
        nlls = [s.mean_nll if config.length_normalized else s.nll for s in scores]
    verdict = judge(config.estimator, config.tau, nlls=nlls, answers=normalized, token_logprobs=greedy.token_logprobs)
    base_passed = _grade(task, base_reply, sandbox)
    base = InputResult(
        task_id=task.task_id,
        confidence=verdict.confidence,
        uncertain=verdict.uncertain,
        base_passed=base_passed,
        variant_passed=base_passed,
        candidates=len(distinct),
        base_answer=base_reply,
        variant_answer=base_reply,
    )
    if not verdict.uncertain:
        return dict.fromkeys(variants, base)
    start = time.perf_counter()
    examples, written = synthesize_code_examples(writer, task, config, sandbox, system_prompt=messages[0]["content"])
    base = replace(
        base,
        examples=len(examples),
        examples_written=written,
        synthesis_seconds=time.perf_counter() - start,
        example_texts=tuple(f"{ex[1]['content']}\n---\n{ex[-1]['content']}" for ex in examples),
    )
    if not examples:
        log.info("%s: no written example passed its own tests; keeping the base answer", task.task_id)
        return dict.fromkeys(variants, base)
    return {
        v: _answer_with_examples(llm, task, messages, examples, config, v, base, sandbox, stop, complete)
        for v in variants
    }


def _answer_with_examples(
    llm: LLM,
    task: TaskSpec,
    messages: Messages,
    examples: list[Messages],
    config: TTSIConfig,
    variant: str,
    base: InputResult,
    sandbox: Any,
    stop: list[str],
    complete: Callable[[str], str],
) -> InputResult:
    train_seconds = 0.0
    if variant == "tt-icl":
        shots: Messages = [turn for ex in examples for turn in ex[1:]]
        start = time.perf_counter()
        reply = llm.generate([messages[0], *shots, messages[1]], max_tokens=config.answer_max_tokens, stop=stop)[0]
        answer_seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        with temporary_lora(llm, config) as (view, peft_model):
            fit_lora(peft_model, view._adapter_name, examples, view.tokenizer, config)
            train_seconds = time.perf_counter() - start
            start = time.perf_counter()
            reply = view.generate(messages, max_tokens=config.answer_max_tokens, stop=stop)[0]
            answer_seconds = time.perf_counter() - start
            start = time.perf_counter()
        train_seconds += time.perf_counter() - start
    answer = complete(reply.text)
    passed = _grade(task, answer, sandbox)
    return replace(
        base, variant_passed=passed, train_seconds=train_seconds, answer_seconds=answer_seconds, variant_answer=answer
    )


def code_ttsi(
    entry: EnvEntry,
    llm: LLM,
    tasks: Sequence[TaskSpec],
    config: TTSIConfig,
    *,
    teacher: LLM | str | None,
    options: TTSIOptions,
    on_progress: Callable[[int, int], None] | None,
) -> TTSIReport:
    """The code environment's `EnvEntry.ttsi`: per task; `options` (per-step settings) do not apply."""
    if teacher == EXPERT_TEACHER:
        raise ValueError("the code environment's TT-SI has no expert teacher; name a teacher model (--teacher)")
    return run_ttsi(llm, tasks, config, teacher=teacher, on_progress=on_progress)  # type: ignore[arg-type]
