"""Is the model unsure about an input? The estimators TT-SI uses to pick the inputs worth adapting to.

- `margin` (the paper's): score N candidate answers with `LLM.score`, p = softmax(-NLL), u = p(1) - p(2);
  uncertain when u < tau. One distinct candidate gives u = 1.
- `agreement` (self-consistency): the share of sampled answers that equal the most common one.
- `self_certainty`: exp(mean token log-probability) of the chosen answer, i.e. the geometric-mean probability the
  model gave its own tokens (from `Completion.token_logprobs`, so it works on every backend that reports them).
Each maps to a confidence in [0, 1] and the input is uncertain when the confidence is below tau.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

ESTIMATORS = ("margin", "agreement", "self_certainty")


def softmax_neg_nll(nlls: Sequence[float]) -> list[float]:
    """p_i = exp(-nll_i) / sum_j exp(-nll_j), computed stably."""
    if not nlls:
        raise ValueError("need at least one candidate NLL")
    lo = min(nlls)
    weights = [math.exp(-(n - lo)) for n in nlls]
    total = sum(weights)
    return [w / total for w in weights]


def margin(nlls: Sequence[float]) -> float:
    """p(1) - p(2) of softmax(-NLL): 1 for a single candidate, 0 for a tie at the top."""
    probs = sorted(softmax_neg_nll(nlls), reverse=True)
    return probs[0] - (probs[1] if len(probs) > 1 else 0.0)


def agreement(answers: Sequence[str]) -> float:
    """Self-consistency: the share of answers equal to the most common one (answers should be normalised)."""
    if not answers:
        raise ValueError("need at least one answer")
    return Counter(answers).most_common(1)[0][1] / len(answers)


def self_certainty(token_logprobs: Sequence[float]) -> float:
    """exp(mean token log-probability): the geometric-mean probability of the answer's tokens (1 when empty)."""
    if not token_logprobs:
        return 1.0
    return math.exp(sum(token_logprobs) / len(token_logprobs))


@dataclass(frozen=True)
class Judgement:
    """One input's uncertainty verdict."""

    estimator: str
    """`margin`, `agreement` or `self_certainty`."""
    confidence: float
    """The estimator's value in [0, 1]; higher is surer."""
    tau: float
    """The threshold it was compared with."""

    @property
    def uncertain(self) -> bool:
        """The input is uncertain when its confidence is below tau."""
        return self.confidence < self.tau


def judge(
    estimator: str,
    tau: float,
    *,
    nlls: Sequence[float] | None = None,
    answers: Sequence[str] | None = None,
    token_logprobs: Sequence[float] | None = None,
) -> Judgement:
    """The verdict of `estimator` from the inputs it needs (NLLs of distinct candidates, answers, or logprobs)."""
    if estimator == "margin":
        if nlls is None:
            raise ValueError("the margin estimator needs the candidates' NLLs")
        value = margin(nlls)
    elif estimator == "agreement":
        if answers is None:
            raise ValueError("the agreement estimator needs the sampled answers")
        value = agreement(answers)
    elif estimator == "self_certainty":
        if token_logprobs is None:
            raise ValueError("the self_certainty estimator needs the answer's token logprobs")
        value = self_certainty(token_logprobs)
    else:
        raise ValueError(f"unknown uncertainty estimator {estimator!r}; use one of {', '.join(ESTIMATORS)}")
    return Judgement(estimator=estimator, confidence=value, tau=tau)
