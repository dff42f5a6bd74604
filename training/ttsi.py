"""Test-time self-improvement (TT-SI) on code tasks, and its variants TT-D and TT-ICL.

For each test input:
1. Self-awareness: the greedy answer plus sampled ones are the candidates; distinct candidates (by normalised code)
   are scored with `LLM.score`; p = softmax(-NLL), u = p(1) - p(2); uncertain when u < tau (other estimators in
   `training.uncertainty`).
2. Self-data augmentation (uncertain inputs only): the model (TT-SI) or a teacher (TT-D, any `LLM`) writes K
   similar tasks, each a function with a docstring and asserts. Going past the paper, the sandbox runs each
   solution against its own asserts and keeps only those that pass.
3. Self-improvement: TT-SI/TT-D fit a temporary LoRA (paper defaults: r 8, alpha 16, all linear layers, lr 1e-4,
   batch 1) on the kept examples, answer, then remove it so the base weights are exactly as before. TT-ICL puts the
   examples in the context instead. Confident inputs keep the base model's greedy answer.
"""

from __future__ import annotations

import ast
import logging
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from agents.types import LLM, Messages
from environments.base import TaskSpec
from training.uncertainty import ESTIMATORS, judge

log = logging.getLogger(__name__)

VARIANTS = ("tt-si", "tt-d", "tt-icl")

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)

SYNTH_SYSTEM = "You are an expert Python programmer who writes small programming exercises with tests."


@dataclass(frozen=True)
class TTSIConfig:
    """How TT-SI judges, synthesises and adapts (defaults follow the paper where it gives them)."""

    variant: str = "tt-si"
    """`tt-si` (own examples into a temporary LoRA), `tt-d` (a teacher's examples), `tt-icl` (examples in context)."""
    estimator: str = "margin"
    """Uncertainty estimator: `margin` (softmax(-NLL) top-2 margin), `agreement`, or `self_certainty`."""
    tau: float = 0.5
    """Threshold: inputs whose confidence is below tau are adapted to."""
    num_candidates: int = 4
    """Candidate answers per input: the greedy one plus num_candidates - 1 samples."""
    candidate_temperature: float = 0.8
    """Sampling temperature of the extra candidates."""
    length_normalized: bool = False
    """Score candidates by mean instead of summed NLL (the paper uses the summed NLL)."""
    k: int = 2
    """Similar training examples wanted per uncertain input."""
    synthesis_tries: int = 3
    """Examples requested per wanted example (most small-model examples fail their own tests)."""
    synthesis_temperature: float = 0.8
    """Sampling temperature when writing examples."""
    synthesis_max_tokens: int = 200
    """Token budget of one written example."""
    answer_max_tokens: int = 256
    """Token budget of an answer."""
    lora_r: int = 8
    """Rank of the temporary LoRA."""
    lora_alpha: int = 16
    """LoRA alpha."""
    lora_target_modules: tuple[str, ...] | str = "all-linear"
    """Modules that get the temporary LoRA."""
    learning_rate: float = 1e-4
    """AdamW learning rate of the temporary LoRA."""
    num_train_epochs: int = 3
    """Passes over the examples (batch 1)."""
    seed: int = 0
    """Seed for sampling, data order and LoRA initialisation."""

    def __post_init__(self) -> None:
        """Refuse an unknown variant or estimator when the config is made, before any model loads."""
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown TT-SI variant {self.variant!r}; use one of {', '.join(VARIANTS)}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown uncertainty estimator {self.estimator!r}; use one of {', '.join(ESTIMATORS)}")


@dataclass(frozen=True)
class InputResult:
    """What TT-SI did with one test input."""

    task_id: str
    confidence: float
    """The estimator's confidence in the base model's answer."""
    uncertain: bool
    base_passed: bool
    """The base model's greedy answer passed the tests."""
    variant_passed: bool
    """The variant's answer passed (the base answer on confident inputs)."""
    candidates: int = 0
    """Distinct candidates scored."""
    examples: int = 0
    """Synthetic examples kept (after the sandbox check)."""
    examples_written: int = 0
    """Synthetic examples written before the check."""
    synthesis_seconds: float = 0.0
    train_seconds: float = 0.0
    """Fitting and removing the temporary LoRA."""
    answer_seconds: float = 0.0
    """Answering with the adapted model (or the longer context)."""
    base_answer: str = ""
    """The base model's greedy reply."""
    variant_answer: str = ""
    """The variant's reply (the base reply where it kept it)."""
    example_texts: tuple[str, ...] = ()
    """The written examples that passed their own tests, as `task prompt -> solution` texts."""

    @property
    def adaptation_seconds(self) -> float:
        """Seconds spent on adaptation: synthesis, training, the adapted answer and the reset."""
        return self.synthesis_seconds + self.train_seconds + self.answer_seconds


@dataclass
class TTSIReport:
    """Base vs variant over the same inputs."""

    variant: str
    config: dict[str, Any]
    results: list[InputResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Accuracy of base and variant, the uncertain share, accuracy by confidence, adaptation seconds."""
        from agents.metrics import wilson_interval

        n = len(self.results)
        unc = [r for r in self.results if r.uncertain]
        conf = [r for r in self.results if not r.uncertain]

        def acc(rows: Sequence[InputResult], attr: str) -> dict[str, Any]:
            hits = sum(getattr(r, attr) for r in rows)
            lo, hi = wilson_interval(hits, len(rows))
            return {"passed": hits, "n": len(rows), "rate": hits / len(rows) if rows else None, "ci95": [lo, hi]}

        adapt = sorted(r.adaptation_seconds for r in unc)
        return {
            "variant": self.variant,
            "inputs": n,
            "base": acc(self.results, "base_passed"),
            "adapted": acc(self.results, "variant_passed"),
            "uncertain_share": len(unc) / n if n else None,
            "base_on_uncertain": acc(unc, "base_passed"),
            "variant_on_uncertain": acc(unc, "variant_passed"),
            "base_on_confident": acc(conf, "base_passed"),
            "examples_kept_per_uncertain": statistics.mean(r.examples for r in unc) if unc else None,
            "examples_written_per_uncertain": statistics.mean(r.examples_written for r in unc) if unc else None,
            "adaptation_seconds_per_uncertain": {
                "mean": statistics.mean(adapt) if adapt else None,
                "median": statistics.median(adapt) if adapt else None,
                "p95": adapt[min(len(adapt) - 1, round(0.95 * (len(adapt) - 1)))] if adapt else None,
            },
            "config": self.config,
        }


# the temporary LoRA -------------------------------------------------------------------------------------------------
def _lora_config(config: TTSIConfig) -> Any:
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type="CAUSAL_LM",
    )


def _require_transformers(llm: LLM) -> Any:
    engine = getattr(llm, "_engine", None)
    if engine is None or not hasattr(engine, "model"):
        raise TypeError(
            f"{type(llm).__name__} cannot be adapted at test time: TT-SI and TT-D train a LoRA on the weights, which "
            "only the transformers backend exposes; use variant tt-icl with other backends"
        )
    return engine


@contextmanager
def temporary_lora(llm: LLM, config: TTSIConfig | None = None) -> Iterator[tuple[Any, Any]]:
    """A fresh LoRA on `llm`'s shared model for the duration of the block: yields (adapted view, peft model).

    Holds the engine's lock throughout, so other views wait rather than see the temporary adapter. On exit the
    adapter is deleted (or, when it was the model's only one, the LoRA layers are unloaded), the parameters'
    `requires_grad` flags are restored and the model is back in eval mode: the base weights were never written.
    """
    import torch
    from peft import PeftModel, get_peft_model

    from agents.llm.transformers_backend import TransformersLLM

    config = config or TTSIConfig()
    engine = _require_transformers(llm)
    name = f"ttsi_{uuid.uuid4().hex[:8]}"
    with engine.lock:
        base = engine.model
        flags = {n: p.requires_grad for n, p in base.named_parameters()}
        was_peft = isinstance(base, PeftModel)
        torch.manual_seed(config.seed)
        if was_peft:
            base.add_adapter(name, _lora_config(config))
            peft_model = base
        else:
            peft_model = get_peft_model(base, _lora_config(config), adapter_name=name)
            engine.model = peft_model
        view = TransformersLLM(llm.config, _engine=engine)
        view._adapter_name = name
        view.adapter = f"temporary:{name}"
        try:
            yield view, peft_model
        finally:
            if was_peft:
                peft_model.delete_adapter(name)
                _unwrap_empty_lora_layers(peft_model)
                engine.model = peft_model
            else:
                engine.model = peft_model.unload()
            for n, p in engine.model.named_parameters():
                if n in flags:
                    p.requires_grad_(flags[n])
            engine.model.eval()


def _unwrap_empty_lora_layers(model: Any) -> None:
    """Put back the plain modules that only the deleted adapter had wrapped (peft leaves empty LoRA wrappers)."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer) and len(module.lora_A) == 0 and len(module.lora_embedding_A) == 0:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())


def fit_lora(
    peft_model: Any, adapter_name: str, examples: Sequence[Messages], tokenizer: Any, config: TTSIConfig
) -> int:
    """Train adapter `adapter_name` of `peft_model` on `examples` (assistant tokens only, batch 1); returns steps."""
    import torch

    from training.data import tokenize_conversation, training_chat_template

    template = training_chat_template(tokenizer)
    device = next(peft_model.parameters()).device
    batches = [tokenize_conversation(tokenizer, ex, template) for ex in examples]
    marker = f".{adapter_name}."
    params = [p for n, p in peft_model.named_parameters() if marker in n]
    if not params:
        raise RuntimeError(f"adapter {adapter_name} has no parameters in the model")
    for n, p in peft_model.named_parameters():
        p.requires_grad_(marker in n)
    peft_model.set_adapter(adapter_name)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    rng = random.Random(config.seed)
    steps = 0
    peft_model.train()
    try:
        for _ in range(config.num_train_epochs):
            order = list(range(len(batches)))
            rng.shuffle(order)
            for i in order:
                ids = torch.tensor([batches[i]["input_ids"]], device=device)
                labels = torch.tensor([batches[i]["labels"]], device=device)
                loss = peft_model(input_ids=ids, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                steps += 1
    finally:
        peft_model.eval()
    return steps


@contextmanager
def adapted(llm: LLM, examples: Sequence[Messages], config: TTSIConfig | None = None) -> Iterator[LLM]:
    """`llm` with a temporary LoRA fitted on `examples` (conversations) inside the block; exactly restored after."""
    config = config or TTSIConfig()
    with temporary_lora(llm, config) as (view, peft_model):
        fit_lora(peft_model, view._adapter_name, examples, view.tokenizer, config)
        yield view


# code tasks ---------------------------------------------------------------------------------------------------------
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


def ttsi_command(
    *,
    env: str = "code",
    suite: str | None = None,
    split: str | None = None,
    tau: float = 0.5,
    k: int = 2,
    variant: str = "tt-si",
    estimator: str = "margin",
    limit: int | None = None,
    model: str = "smollm2",
    teacher_backend: str | None = None,
    teacher_model: str | None = None,
    teacher_api_base: str | None = None,
    epochs: int = 3,
    lr: float = 1e-4,
    rank: int = 8,
    alpha: int = 16,
    num_candidates: int = 4,
    seed: int = 0,
    num_threads: int | None = None,
    max_steps: int | None = None,
    max_adaptations: int = 2,
    candidates: str = "sampled",
    llm: LLM | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """`kintsugi tt-si`: base vs the variant on a suite; returns `TTSIReport.summary()` plus per-input rows.

    `env` is `code` (suite default easy, split test) or `household` (split default valid_unseen; per agent step, see
    `training.ttsi_household`, with `max_steps` (default 20), `max_adaptations` and `candidates`). `teacher_model`
    (with `teacher_backend`, default transformers, and `teacher_api_base` for litellm servers) writes the examples
    for tt-d (and for the others when given); in the household env `teacher_model="expert"` (tt-d's default there)
    lets the environment's expert write them. `num_threads`: torch CPU threads (1 is fastest on a shared machine).
    `llm`: an already-loaded model to use instead of loading `model`.
    """
    if env not in ("code", "household"):
        raise ValueError(f"tt-si supports --env code or household (got {env!r})")
    expert = env == "household" and teacher_model == "expert"
    if teacher_model == "expert" and not expert:
        raise ValueError("the expert teacher exists only in the household env; name a teacher model for code")
    from environments.base import get_entry

    if env == "household":
        suite, split = suite or "alfworld-like", split or "valid_unseen"
    else:
        suite, split = suite or "easy", split or "test"
    config = TTSIConfig(  # checked before any model loads
        variant=variant,
        estimator=estimator,
        tau=tau,
        k=k,
        num_candidates=num_candidates,
        num_train_epochs=epochs,
        learning_rate=lr,
        lora_r=rank,
        lora_alpha=alpha,
        seed=seed,
    )
    tasks = get_entry(env).load_tasks(suite, split, limit)
    if llm is None:
        from agents.llm import make_llm

        llm = make_llm("transformers", model, num_threads=num_threads)
    teacher = None
    if teacher_model and not expert:
        from agents.llm import make_llm

        backend = teacher_backend or "transformers"
        options = {"api_base": teacher_api_base} if teacher_api_base else {}
        teacher = make_llm(backend, teacher_model, **options)
    if env == "household":
        from training.ttsi_household import HouseholdTTSIConfig, household_ttsi_command

        household = HouseholdTTSIConfig(
            max_steps=max_steps or HouseholdTTSIConfig.max_steps, max_adaptations=max_adaptations, candidates=candidates
        )
        summary = household_ttsi_command(
            llm, tasks, config, household, teacher="expert" if expert else teacher, on_progress=on_progress
        )
    else:
        report = run_ttsi(llm, tasks, config, teacher=teacher, on_progress=on_progress)
        summary = report.summary()
        summary["per_input"] = [asdict(r) | {"adaptation_seconds": r.adaptation_seconds} for r in report.results]
    summary["suite"], summary["split"], summary["env"] = suite, split, env
    return summary


REPORT_GLOB = "ttsi-*.json"
"""The names `write_report` gives TT-SI reports in an output folder (the viewer lists them)."""


def write_report(report: dict[str, Any], out_dir: str | Path) -> Path:
    """Write a `ttsi_command` report as `OUT/ttsi-<variant>-<env>-<time>.json` (to a temporary name first, so an
    interrupted write leaves nothing half-written); returns its path."""
    import json
    import os

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"ttsi-{report.get('variant', 'tt-si')}-{report.get('env', 'code')}-{stamp}.json"
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def record_report(report: dict[str, Any], out_dir: str | Path, model: str = "smollm2") -> tuple[Path, str]:
    """`kintsugi tt-si --out OUT`: write the report (`write_report`) and list it in OUT's store as a finished run of
    kind `tt-si` (its summary as metrics, the report's path under `report`); returns (report path, run id)."""
    from agents.runner import STORE_NAME
    from agents.store import Store

    path = write_report(report, out_dir)
    with Store(Path(out_dir) / STORE_NAME) as store:
        run_id = store.create_run(report.get("config") or {}, kind="tt-si", model=model)
        store.finish_run(run_id, {**{k: v for k, v in report.items() if k != "per_input"}, "report": str(path)})
    return path, run_id
