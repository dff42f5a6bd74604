"""Test-time self-improvement (TT-SI) and its variants TT-D and TT-ICL: the parts every environment shares.

Each environment that supports it says how in its `EnvEntry.ttsi` (code: one answer per task,
`environments.code.ttsi`; household and tools: one agent step at a time, `training.ttsi_steps`, with the
environment's example writer); this module holds
the shared configuration and report types, the temporary LoRA that adapts the model and is removed afterwards
(paper defaults: r 8, alpha 16, all linear layers, lr 1e-4, batch 1; the base weights are exactly as before), the
`kintsugi tt-si` entry point that dispatches to the environment, and the report files.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agents.llm.base import LLMRecipe
from agents.types import LLM, Messages
from environments.base import EnvEntry, TaskSpec
from training.uncertainty import ESTIMATORS

if TYPE_CHECKING:
    from training.ttsi_checkpoint import TTSICheckpoint

log = logging.getLogger(__name__)

VARIANTS = ("tt-si", "tt-d", "tt-icl")


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

    def per_input(self) -> list[dict[str, Any]]:
        """One row per input, as the report JSON holds them."""
        return [asdict(r) | {"adaptation_seconds": r.adaptation_seconds} for r in self.results]

    def extend(self, other: TTSIReport) -> None:
        """Append `other`'s inputs (the same variant and settings, on other inputs)."""
        self.results.extend(other.results)

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


@dataclass(frozen=True)
class TTSIOptions:
    """Settings of TT-SI in environments whose episodes take many steps (judged per agent step); others ignore them."""

    max_steps: int | None = None
    """Steps per episode (None: the environment's TT-SI default)."""
    max_adaptations: int = 2
    """Uncertain steps adapted to per episode; later steps are neither judged nor adapted (cost bound)."""
    candidates: str = "sampled"
    """`sampled` (greedy + samples) or `admissible` (greedy + the state's admissible actions)."""
    prompt: str | None = None
    """The agent's prompt profile (None: the environment's default)."""


EXPERT_TEACHER = "expert"
"""The teacher name that lets the environment's own expert write TT-D's examples, where it can."""


class TTSIResults(Protocol):
    """What an environment's TT-SI returns: its report over the inputs it was given (`TTSIReport`,
    `training.ttsi_steps.StepTTSIReport`). Reports of the same settings on other inputs extend it (a Ray run's
    workers each return one), and its summary has `TTSIReport.summary()`'s keys plus what else the environment
    measures."""

    def summary(self) -> dict[str, Any]: ...

    def per_input(self) -> list[dict[str, Any]]: ...

    def extend(self, other: Any) -> None: ...


def join_reports(parts: Sequence[TTSIResults]) -> TTSIResults:
    """One report of `parts` (reports of the same settings on other inputs), their inputs in the order given; the
    parts are left as they were."""
    import copy

    if not parts:
        raise ValueError("no inputs to run TT-SI on")
    report = copy.deepcopy(parts[0])
    for part in parts[1:]:
        report.extend(part)
    return report


class EnvTTSI(Protocol):
    """An environment's TT-SI (`EnvEntry.ttsi`): base vs `config.variant` on the same `tasks`, each task on its own
    (so a run can be split over workers); returns its report. Per task (`environments.code.ttsi.code_ttsi`) or per
    agent step (`training.ttsi_steps.step_ttsi`)."""

    def __call__(
        self,
        entry: EnvEntry,
        llm: LLM,
        tasks: Sequence[TaskSpec],
        config: TTSIConfig,
        *,
        teacher: LLM | str | None,
        options: TTSIOptions,
        on_progress: Callable[[int, int], None] | None,
    ) -> TTSIResults: ...


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
    options: TTSIOptions | None = None,
    llm: LLM | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    ray: str | None = None,
    ray_workers: int = 2,
    checkpoint: TTSICheckpoint | None = None,
) -> dict[str, Any]:
    """`kintsugi tt-si`: base vs the variant on a suite's split (defaults: the environment's suite and held-out
    split); returns the environment's summary plus per-input rows.

    `teacher_model` (with `teacher_backend`, default transformers, and `teacher_api_base` for litellm servers) writes
    the examples for tt-d (and for the others when given); `teacher_model="expert"` lets the environment's expert
    write them where its TT-SI supports that. `num_threads`: torch CPU threads (1 is fastest on a shared machine).
    `llm`: an already-loaded model to use instead of loading `model`. `ray` (`auto` or HOST:PORT): the tasks are
    shared out to `ray_workers` Ray workers, each with its own model and teacher (`training.ray_ttsi`).
    `checkpoint` (`training.ttsi_checkpoint`): inputs it holds are read back instead of run, and each input run is
    kept in it as it finishes (the report is the same either way: every input is adapted to on its own).
    """
    from environments.base import get_entry

    entry = get_entry(env)
    run_env: EnvTTSI = entry.ability("ttsi")
    suite, split = suite or entry.default_suite, split or entry.eval_split
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
    tasks = entry.load_tasks(suite, split, limit)
    teacher: LLM | LLMRecipe | str | None = teacher_model
    if teacher_model and teacher_model != EXPERT_TEACHER:
        extra = {"api_base": teacher_api_base} if teacher_api_base else {}
        teacher = LLMRecipe(teacher_backend or "transformers", teacher_model, **extra)
    options = options or TTSIOptions()
    done: dict[str, TTSIResults] = checkpoint.finished() if checkpoint else {}
    todo = [task for task in tasks if task.task_id not in done]

    def finished(task: TaskSpec, part: TTSIResults, seconds: float) -> None:
        done[task.task_id] = part
        if checkpoint:
            checkpoint.save(task.task_id, part, seconds)
        if on_progress:
            on_progress(len(done), len(tasks))

    if on_progress:
        on_progress(len(done), len(tasks))
    if todo and ray is not None:
        from training.ray_ttsi import ttsi_on_ray

        recipe = llm.recipe() if llm is not None else LLMRecipe("transformers", model)  # type: ignore[attr-defined]
        ttsi_on_ray(entry, recipe, todo, config, teacher=teacher, options=options, address=ray, workers=ray_workers,
                    on_input=finished)  # fmt: skip
    elif todo:
        if llm is None:
            from agents.llm import make_llm

            llm = make_llm("transformers", model, num_threads=num_threads)
        if isinstance(teacher, LLMRecipe):
            teacher = teacher.build()
        for task in todo:  # one input at a time, as a Ray worker runs them: each is kept as it finishes
            start = time.perf_counter()
            part = run_env(entry, llm, [task], config, teacher=teacher, options=options, on_progress=None)
            finished(task, part, time.perf_counter() - start)
    results = join_reports([done[task.task_id] for task in tasks])
    summary = results.summary()
    summary["per_input"] = results.per_input()
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


def record_report(
    report: dict[str, Any], out_dir: str | Path, model: str = "smollm2", run_id: str | None = None
) -> tuple[Path, str]:
    """`kintsugi tt-si --out OUT`: write the report (`write_report`) and finish its run in OUT's store (kind `tt-si`:
    `run_id`, or a new one; its summary as metrics, the report's path under `report`); returns (report path, run
    id)."""
    from agents.store import STORE_NAME, Store

    path = write_report(report, out_dir)
    with Store(Path(out_dir) / STORE_NAME) as store:
        if run_id is None:
            run_id = store.create_run(report.get("config") or {}, kind="tt-si", model=model)
        store.finish_run(run_id, {**{k: v for k, v in report.items() if k != "per_input"}, "report": str(path)})
    return path, run_id
