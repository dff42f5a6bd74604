"""First-error detection: the actor model judges each step of a failed path as Good, Bad or Uncertain.

The verdict comes from `score()` of the three labels (lowest NLL wins) or from a short generation. With
`calibrate`, each label's NLL on a content-free step is subtracted first (contextual calibration), because a
small model prefers one label whatever it is shown. Steps are judged in order and judging stops at the first Bad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from agents.types import LLM, Messages

JUDGE_PROMPT = (
    "You review an agent's steps in a text environment. For the step shown, answer with one word: Good if it "
    "brings the agent closer to finishing the task, Bad if it is a mistake or wastes a step, Uncertain if you "
    "cannot tell."
)
MAX_HISTORY = 8
"""Most earlier steps shown to the judge (the latest ones)."""


class Verdict(StrEnum):
    GOOD = "Good"
    BAD = "Bad"
    UNCERTAIN = "Uncertain"


LABELS: tuple[Verdict, ...] = (Verdict.GOOD, Verdict.BAD, Verdict.UNCERTAIN)


@dataclass(frozen=True)
class PathStep:
    """One step of a path as the judge sees it."""

    action: str
    observation: str


@dataclass(frozen=True)
class Judgement:
    """The verdict on one step, with the calibrated label NLLs when scored."""

    index: int
    verdict: Verdict
    nll: dict[str, float] = field(default_factory=dict)
    raw: str = ""


def judge_messages(task: str, steps: Sequence[PathStep], index: int) -> Messages:
    """The judge's conversation for step `index` of `steps` (task text, recent history, the step)."""
    lo = max(0, index - MAX_HISTORY)
    history = "\n".join(f"> {s.action}\n{s.observation}" for s in steps[lo:index]) or "(none)"
    step = steps[index]
    user = (
        f"{task}\n\nEarlier steps:\n{history}\n\nStep to judge:\n> {step.action}\n{step.observation}\n\n"
        "Is this step Good, Bad or Uncertain?"
    )
    return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": user}]


def _null_nll(llm: LLM, task: str) -> dict[str, float]:
    msgs = judge_messages(task, [PathStep("N/A", "N/A")], 0)
    return {str(lab): s.nll for lab, s in zip(LABELS, llm.score(msgs, [str(x) for x in LABELS]), strict=True)}


def judge_step(
    llm: LLM,
    task: str,
    steps: Sequence[PathStep],
    index: int,
    *,
    method: str = "score",
    baseline: dict[str, float] | None = None,
) -> Judgement:
    """One step's verdict by `method` `score` (label likelihoods) or `generate` (greedy one-word answer)."""
    msgs = judge_messages(task, steps, index)
    if method == "generate":
        text = llm.generate(msgs, n=1, temperature=0.0, max_tokens=4)[0].text.strip()
        word = text.split()[0].strip(".,:;!").capitalize() if text.split() else ""
        verdict = Verdict(word) if word in {str(x) for x in LABELS} else Verdict.UNCERTAIN
        return Judgement(index, verdict, raw=text)
    if method != "score":
        raise ValueError(f"judge method must be `score` or `generate`; got {method!r}")
    scores = llm.score(msgs, [str(x) for x in LABELS])
    nll = {str(lab): s.nll - (baseline or {}).get(str(lab), 0.0) for lab, s in zip(LABELS, scores, strict=True)}
    best = min(LABELS, key=lambda lab: (nll[str(lab)], LABELS.index(lab)))
    return Judgement(index, best, nll={k: round(v, 4) for k, v in nll.items()})


def find_first_error(
    llm: LLM,
    task: str,
    steps: Sequence[PathStep],
    *,
    start: int = 0,
    method: str = "score",
    calibrate: bool = True,
) -> tuple[int | None, list[Judgement]]:
    """Judge steps from `start` on; returns the first Bad step's index (None if none) and the judgements made."""
    baseline = _null_nll(llm, task) if calibrate and method == "score" else None
    judgements = []
    for i in range(start, len(steps)):
        j = judge_step(llm, task, steps, i, method=method, baseline=baseline)
        judgements.append(j)
        if j.verdict is Verdict.BAD:
            return i, judgements
    return None, judgements
