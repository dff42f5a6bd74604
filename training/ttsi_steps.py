"""Test-time self-improvement (TT-SI, TT-D, TT-ICL) one agent step at a time, in any environment with episodes.

Each task is played greedily by the base model (the base episode) and once per variant (the variant episode). At each
step of a variant episode, until `max_adaptations` uncertain steps have been adapted to:
1. Self-awareness: the candidates are the greedy reply plus sampled ones, deduplicated by the action they parse to
   (or the greedy reply plus the state's admissible actions, where the environment lists them); they are scored
   with `LLM.score`, p = softmax(-NLL), u = p(1) - p(2) (or another `training.uncertainty` estimator); the step is
   uncertain when u < tau.
2. Self-data augmentation (uncertain steps only): K similar (state, action) examples, as conversations, from the
   environment's example writer (`EnvEntry.ttsi_writer`): the model itself (TT-SI), a teacher LLM (TT-D), or the
   environment's expert on similar training tasks (TT-D's default where there is one: real states, accepted
   actions). Each writer checks its examples the way its environment can.
3. Self-improvement: a temporary LoRA fitted on the examples (`training.ttsi.adapted`, base weights restored exactly)
   chooses this step's action (TT-ICL: the examples go into the context instead); later steps use the base model.

A variant episode equals the base episode until its first changed action, so greedy replies, verdicts and examples
are memoised per task and shared by the base episode and every variant.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from agents.types import LLM, Completion, Messages
from environments.base import EnvEntry, TaskSpec
from training.ttsi import VARIANTS, TTSIConfig, TTSIOptions, _require_transformers, adapted
from training.uncertainty import ESTIMATORS, Judgement, judge

log = logging.getLogger(__name__)

CANDIDATE_MODES = ("sampled", "admissible")


@dataclass(frozen=True)
class StepTTSIConfig:
    """Settings of per-step TT-SI (the shared ones are `TTSIConfig`'s)."""

    max_steps: int = 20
    """Steps per episode (thoughts included)."""
    max_adaptations: int = 2
    """Uncertain steps adapted to per variant episode; later steps are neither judged nor adapted (cost bound)."""
    candidates: str = "sampled"
    """`sampled`: the greedy reply plus `num_candidates - 1` samples, deduplicated by parsed action; `admissible`:
    the greedy reply plus the state's admissible actions (at most `max_admissible`, in the env's sorted order)."""
    max_admissible: int = 16
    """Admissible actions scored per step in `admissible` mode."""
    expert: str | None = None
    """Which of the environment's experts writes expert examples (None: its default; household: `demo`, which
    searches like an agent that does not know where things are, or `oracle`, which goes straight to the objects)."""
    max_tokens: int | None = None
    """Token budget of one reply (None: the environment's default)."""
    prompt: str | None = None
    """The agent's prompt profile (None: the environment's default, with few-shot episodes; `compact` after a warm
    start)."""
    example_max_tokens: int = 96
    """Token budget of one model-written example."""


class StepWriter(Protocol):
    """Writes the examples for an uncertain step (an environment's `EnvEntry.ttsi_writer` makes one per variant)."""

    name: str
    """Who writes (stored with the report), e.g. `expert:demo` or `model:NAME:ADAPTER`."""

    def write(self, task: TaskSpec, episode: Messages, config: TTSIConfig) -> tuple[list[Messages], int]:
        """Up to `config.k` example conversations for the state at the end of `episode` (the conversation from the
        task's first observation on), and how many were written before the writer's checks."""
        ...


class MakeWriter(Protocol):
    """`EnvEntry.ttsi_writer`: the writer of a variant's examples (`teacher`: an LLM, `expert`, or None for the
    variant's default)."""

    def __call__(self, variant: str, llm: LLM, teacher: LLM | str | None, steps: StepTTSIConfig) -> StepWriter: ...


@dataclass(frozen=True)
class StepResult:
    """One judged step of a variant episode."""

    step: int
    confidence: float
    uncertain: bool
    candidates: int
    """Distinct candidates scored."""
    base_action: str
    """The base model's greedy action in this state."""
    action: str
    """The action taken (the adapted one on uncertain steps with examples)."""
    base_valid: bool | None = None
    """The base action is a thought or one of the state's admissible actions (None: the env lists none)."""
    valid: bool | None = None
    """The action taken is a thought or one of the state's admissible actions (None: the env lists none)."""
    examples: int = 0
    """Examples kept."""
    examples_written: int = 0
    """Examples written before the checks."""
    judge_seconds: float = 0.0
    """Sampling and scoring the candidates."""
    synthesis_seconds: float = 0.0
    train_seconds: float = 0.0
    """Fitting and removing the temporary LoRA."""
    answer_seconds: float = 0.0

    @property
    def adaptation_seconds(self) -> float:
        """Seconds spent on adaptation: synthesis, training, the adapted answer and the reset."""
        return self.synthesis_seconds + self.train_seconds + self.answer_seconds


@dataclass(frozen=True)
class EpisodeResult:
    """One game: the base episode and the variant episode."""

    task_id: str
    base_won: bool
    variant_won: bool
    base_steps: int
    variant_steps: int
    judged: tuple[StepResult, ...] = ()

    @property
    def uncertain(self) -> bool:
        """Some judged step was uncertain."""
        return any(s.uncertain for s in self.judged)


@dataclass
class StepTTSIReport:
    """Base vs variant episodes on the same tasks."""

    env: str
    variant: str
    config: dict[str, Any]
    episodes: list[EpisodeResult] = field(default_factory=list)

    def per_input(self) -> list[dict[str, Any]]:
        """One row per episode (its judged steps inside), as the report JSON holds them."""
        return [
            asdict(e) | {"judged": [asdict(s) | {"adaptation_seconds": s.adaptation_seconds} for s in e.judged]}
            for e in self.episodes
        ]

    def extend(self, other: StepTTSIReport) -> None:
        """Append `other`'s episodes (the same variant and settings, on other tasks)."""
        self.episodes.extend(other.episodes)

    def summary(self) -> dict[str, Any]:
        """Success of base and variant (95% Wilson intervals), uncertain share of judged steps, success on games with
        and without uncertain steps, and adaptation seconds per uncertain step (keys as `TTSIReport.summary`)."""
        from agents.metrics import wilson_interval

        def rate(rows: Sequence[EpisodeResult | StepResult], attr: str) -> dict[str, Any]:
            rows = [r for r in rows if getattr(r, attr) is not None]
            hits = sum(getattr(r, attr) for r in rows)
            lo, hi = wilson_interval(hits, len(rows))
            return {"passed": hits, "n": len(rows), "rate": hits / len(rows) if rows else None, "ci95": [lo, hi]}

        def mean(values: Sequence[float]) -> float | None:
            return statistics.mean(values) if values else None

        steps = [s for e in self.episodes for s in e.judged]
        unc = [s for s in steps if s.uncertain]
        adapt = sorted(s.adaptation_seconds for s in unc)
        with_unc = [e for e in self.episodes if e.uncertain]
        without = [e for e in self.episodes if not e.uncertain]
        return {
            "variant": self.variant,
            "env": self.env,
            "inputs": len(self.episodes),
            "base": rate(self.episodes, "base_won"),
            "adapted": rate(self.episodes, "variant_won"),
            "uncertain_share": len(unc) / len(steps) if steps else None,
            "steps_judged": len(steps),
            "steps_uncertain": len(unc),
            "actions_changed": sum(s.action != s.base_action for s in unc),
            "valid_on_uncertain": {"base": rate(unc, "base_valid"), "variant": rate(unc, "valid")},
            "base_on_uncertain": rate(with_unc, "base_won"),
            "variant_on_uncertain": rate(with_unc, "variant_won"),
            "base_on_confident": rate(without, "base_won"),
            "mean_steps": {
                "base": mean([e.base_steps for e in self.episodes]),
                "variant": mean([e.variant_steps for e in self.episodes]),
            },
            "examples_kept_per_uncertain": mean([s.examples for s in unc]),
            "examples_written_per_uncertain": mean([s.examples_written for s in unc]),
            "judge_seconds_per_step": mean([s.judge_seconds for s in steps]),
            "adaptation_seconds_per_uncertain": {
                "mean": mean(adapt),
                "median": statistics.median(adapt) if adapt else None,
                "p95": adapt[min(len(adapt) - 1, round(0.95 * (len(adapt) - 1)))] if adapt else None,
            },
            "config": self.config,
        }


# self-awareness -----------------------------------------------------------------------------------------------------
def _stop(entry: EnvEntry) -> list[str]:
    return list(entry.stop)


def _max_tokens(entry: EnvEntry, steps: StepTTSIConfig) -> int:
    return steps.max_tokens or entry.max_tokens


def candidate_replies(
    llm: LLM,
    entry: EnvEntry,
    messages: Messages,
    greedy: Completion,
    config: TTSIConfig,
    steps: StepTTSIConfig,
    *,
    admissible: Sequence[str] = (),
    seed: int | None = None,
) -> tuple[list[str], list[str]]:
    """(distinct candidate replies, every candidate's parsed action): the greedy reply first, then samples (or
    admissible actions) whose action differs from every earlier one."""
    if steps.candidates == "admissible":
        replies = [greedy.text, *admissible[: steps.max_admissible]]
    else:
        samples = []
        if config.num_candidates > 1:
            samples = llm.generate(
                messages,
                n=config.num_candidates - 1,
                temperature=config.candidate_temperature,
                max_tokens=_max_tokens(entry, steps),
                stop=_stop(entry),
                seed=seed,
            )
        replies = [greedy.text, *(c.text for c in samples)]
    actions = [entry.parse_action(entry.complete_reply(r)) for r in replies]
    distinct: dict[str, str] = {}
    for action, reply in zip(actions, replies, strict=True):
        distinct.setdefault(action, reply)
    return list(distinct.values()), actions


def judge_step(
    llm: LLM,
    entry: EnvEntry,
    messages: Messages,
    greedy: Completion,
    config: TTSIConfig,
    steps: StepTTSIConfig,
    *,
    admissible: Sequence[str] = (),
    seed: int | None = None,
) -> tuple[Judgement, int]:
    """The uncertainty verdict on the step that `messages` asks for, and how many distinct candidates it weighed."""
    if config.estimator == "self_certainty":
        return judge("self_certainty", config.tau, token_logprobs=greedy.token_logprobs), 1
    distinct, actions = candidate_replies(llm, entry, messages, greedy, config, steps, admissible=admissible, seed=seed)
    if config.estimator == "agreement":
        return judge("agreement", config.tau, answers=actions), len(distinct)
    scores = llm.score(messages, distinct)
    nlls = [s.mean_nll if config.length_normalized else s.nll for s in scores]
    return judge("margin", config.tau, nlls=nlls), len(distinct)


# self-improvement ---------------------------------------------------------------------------------------------------
def answer_with_examples(
    llm: LLM,
    prefix: Messages,
    episode: Messages,
    examples: Sequence[Messages],
    config: TTSIConfig,
    variant: str,
    max_tokens: int,
    stop: Sequence[str],
) -> tuple[Completion, float, float]:
    """The reply to `prefix + episode` after adapting to `examples`: (reply, training seconds, answer seconds).

    TT-SI/TT-D answer from a temporary LoRA (removed before returning); TT-ICL puts the examples' turns between the
    prefix (system prompt and few-shot turns) and the episode.
    """
    if variant == "tt-icl":
        start = time.perf_counter()
        kept = list(examples)
        while True:  # a long episode behind the few-shot turns can leave no room for every example: drop the last
            shots: Messages = [turn for ex in kept for turn in ex if turn["role"] != "system"]
            try:
                reply = llm.generate([*prefix, *shots, *episode], max_tokens=max_tokens, stop=list(stop))[0]
                break
            except ValueError as error:
                if not kept or "context" not in str(error):
                    raise
                log.info("tt-icl: %d examples do not fit the context; trying with one fewer", len(kept))
                kept.pop()
        return reply, 0.0, time.perf_counter() - start
    start = time.perf_counter()
    with adapted(llm, examples, config) as view:
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        reply = view.generate([*prefix, *episode], max_tokens=max_tokens, stop=list(stop))[0]
        answer_seconds = time.perf_counter() - start
        start = time.perf_counter()
    return reply, train_seconds + time.perf_counter() - start, answer_seconds


# episodes -----------------------------------------------------------------------------------------------------------
def _key(messages: Messages) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], m["content"]) for m in messages)


@dataclass
class _Memo:
    """Work shared by the episodes of one task (the same conversation always gets the same greedy reply)."""

    greedy: dict[tuple, Completion] = field(default_factory=dict)
    verdicts: dict[tuple, tuple[Judgement, int, float]] = field(default_factory=dict)
    examples: dict[tuple, tuple[list[Messages], int, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class EpisodeRun:
    """How one episode went: won, steps taken, and its judged steps (none for a base episode)."""

    won: bool
    steps: int
    judged: tuple[StepResult, ...]


def _valid(entry: EnvEntry, action: str, admissible: Sequence[str] | None) -> bool | None:
    """A thought or an admissible action; None where the environment lists no admissible actions."""
    if admissible is None:
        return None
    return bool(entry.thought_prefix and action.startswith(entry.thought_prefix.strip())) or action in admissible


def play_episode(
    llm: LLM,
    entry: EnvEntry,
    task: TaskSpec,
    prefix: Messages,
    config: TTSIConfig,
    steps: StepTTSIConfig,
    *,
    variant: str | None = None,
    writer: StepWriter | None = None,
    memo: _Memo | None = None,
    resources: dict[str, Any] | None = None,
) -> EpisodeRun:
    """One greedy episode of `task`; with a `variant` (and its `writer`), uncertain steps are adapted to."""
    memo = memo or _Memo()
    env = entry.make(task, max_steps=steps.max_steps, **(resources or {}))
    max_tokens, stop = _max_tokens(entry, steps), _stop(entry)
    try:
        obs, info = env.reset()
        episode: Messages = [{"role": "user", "content": obs}]
        judged: list[StepResult] = []
        adaptations = 0
        won, taken = False, 0
        for step in range(steps.max_steps):
            messages = [*prefix, *episode]
            key = _key(messages)
            if key not in memo.greedy:
                memo.greedy[key] = llm.generate(messages, max_tokens=max_tokens, stop=stop)[0]
            greedy = memo.greedy[key]
            reply = entry.complete_reply(greedy.text)
            admissible = info.get("admissible_actions")
            if variant is not None and writer is not None and adaptations < steps.max_adaptations:
                if key not in memo.verdicts:
                    start = time.perf_counter()
                    verdict, n = judge_step(
                        llm, entry, messages, greedy, config, steps, admissible=admissible or (),
                        seed=config.seed + step,
                    )  # fmt: skip
                    memo.verdicts[key] = (verdict, n, time.perf_counter() - start)
                verdict, n, judge_seconds = memo.verdicts[key]
                base_action = entry.parse_action(reply)
                row = StepResult(
                    step=step,
                    confidence=verdict.confidence,
                    uncertain=verdict.uncertain,
                    candidates=n,
                    base_action=base_action,
                    action=base_action,
                    judge_seconds=judge_seconds,
                )
                if verdict.uncertain:
                    adaptations += 1
                    reply, row = _adapt(llm, entry, task, prefix, episode, reply, config, steps, variant, writer,
                                        memo, row)  # fmt: skip
                judged.append(
                    replace(
                        row,
                        base_valid=_valid(entry, base_action, admissible),
                        valid=_valid(entry, row.action, admissible),
                    )
                )
            obs, reward, terminated, truncated, info = env.step(entry.parse_action(reply))
            taken += 1
            won = won or (terminated and reward > 0)
            episode += [{"role": "assistant", "content": reply}, {"role": "user", "content": obs}]
            if terminated or truncated:
                break
    finally:
        env.close()
    return EpisodeRun(won=won, steps=taken, judged=tuple(judged))


def _adapt(
    llm: LLM,
    entry: EnvEntry,
    task: TaskSpec,
    prefix: Messages,
    episode: Messages,
    base_reply: str,
    config: TTSIConfig,
    steps: StepTTSIConfig,
    variant: str,
    writer: StepWriter,
    memo: _Memo,
    row: StepResult,
) -> tuple[str, StepResult]:
    """The reply at an uncertain step (the base one when no example was kept) and the step's record."""
    key = (writer.name, *_key(episode))
    if key not in memo.examples:
        start = time.perf_counter()
        examples, written = writer.write(task, episode, config)
        memo.examples[key] = (examples, written, time.perf_counter() - start)
    examples, written, synthesis_seconds = memo.examples[key]
    row = replace(row, examples=len(examples), examples_written=written, synthesis_seconds=synthesis_seconds)
    if not examples:
        log.info("%s step %d: no written example was kept; keeping the base action", task.task_id, row.step)
        return base_reply, row
    reply, train_seconds, answer_seconds = answer_with_examples(
        llm, prefix, episode, examples, config, variant, _max_tokens(entry, steps), _stop(entry)
    )
    text = entry.complete_reply(reply.text)
    action = entry.parse_action(text)
    log.info("%s step %d: base %r -> %s %r", task.task_id, row.step, row.base_action, variant, action)
    return text, replace(row, action=action, train_seconds=train_seconds, answer_seconds=answer_seconds)


def run_step_ttsi_variants(
    llm: LLM,
    entry: EnvEntry,
    tasks: Sequence[TaskSpec],
    config: TTSIConfig,
    variants: Sequence[str],
    steps: StepTTSIConfig | None = None,
    *,
    teacher: LLM | str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, StepTTSIReport]:
    """Base vs each variant on the same tasks of `entry`'s environment (the base episode and shared steps computed
    once per task). `config.variant` is ignored; `teacher` is an LLM or "expert" (see the environment's writer)."""
    steps = steps or StepTTSIConfig()
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown TT-SI variant {variant!r}; use one of {', '.join(VARIANTS)}")
    if config.estimator not in ESTIMATORS:
        raise ValueError(f"unknown uncertainty estimator {config.estimator!r}; use one of {', '.join(ESTIMATORS)}")
    if steps.candidates not in CANDIDATE_MODES:
        raise ValueError(f"unknown candidate mode {steps.candidates!r}; use one of {', '.join(CANDIDATE_MODES)}")
    if config.estimator == "agreement" and steps.candidates != "sampled":
        raise ValueError("the agreement estimator needs sampled candidates (candidates='sampled')")
    if steps.max_steps < 1 or steps.max_adaptations < 0:
        raise ValueError("max_steps must be >= 1 and max_adaptations >= 0")
    make_writer: MakeWriter = entry.ability("ttsi_writer")
    writers = {v: make_writer(v, llm, teacher, steps) for v in variants}  # a bad teacher or expert fails here
    if any(v in ("tt-si", "tt-d") for v in variants):
        _require_transformers(llm)
    profile = entry.prompt(steps.prompt)
    prefix: Messages = [{"role": "system", "content": profile.system}, *profile.few_shot]  # type: ignore[list-item]
    reports = {
        v: StepTTSIReport(
            env=entry.name,
            variant=v,
            config=asdict(replace(config, variant=v)) | asdict(steps) | {"writer": writers[v].name},
        )
        for v in variants
    }
    resources = entry.resources()
    try:
        for index, task in enumerate(tasks):
            memo = _Memo()
            base = play_episode(llm, entry, task, prefix, config, steps, memo=memo, resources=resources)
            for variant in variants:
                run = play_episode(llm, entry, task, prefix, config, steps, variant=variant, writer=writers[variant],
                                   memo=memo, resources=resources)  # fmt: skip
                reports[variant].episodes.append(
                    EpisodeResult(
                        task_id=task.task_id,
                        base_won=base.won,
                        variant_won=run.won,
                        base_steps=base.steps,
                        variant_steps=run.steps,
                        judged=run.judged,
                    )
                )
            if on_progress:
                on_progress(index + 1, len(tasks))
    finally:
        for resource in resources.values():
            resource.close()
    return reports


def step_ttsi(
    entry: EnvEntry,
    llm: LLM,
    tasks: Sequence[TaskSpec],
    config: TTSIConfig,
    *,
    teacher: LLM | str | None,
    options: TTSIOptions,
    on_progress: Callable[[int, int], None] | None,
) -> StepTTSIReport:
    """`EnvEntry.ttsi` of environments judged per agent step: the report of `config.variant` on `tasks` with
    `options`' step settings."""
    steps = StepTTSIConfig(
        max_steps=options.max_steps or StepTTSIConfig.max_steps,
        max_adaptations=options.max_adaptations,
        candidates=options.candidates,
        prompt=options.prompt,
    )
    return run_step_ttsi_variants(
        llm, entry, tasks, config, [config.variant], steps, teacher=teacher, on_progress=on_progress
    )[config.variant]
