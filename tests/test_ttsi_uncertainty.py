"""TT-SI without a model: the uncertainty maths, synthetic-example parsing, and the pipeline over a scripted LLM."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from agents.types import CandidateScore, Completion, Messages
from environments.base import TaskSpec
from environments.code.ttsi import SYNTH_SYSTEM, normalize_code, parse_synthetic, run_ttsi
from training.ttsi import InputResult, TTSIConfig, TTSIReport
from training.uncertainty import agreement, judge, margin, self_certainty, softmax_neg_nll


def test_softmax_of_negative_nll_on_hand_made_values():
    probs = softmax_neg_nll([1.0, 1.0 + math.log(3)])
    assert probs == pytest.approx([0.75, 0.25])
    assert sum(softmax_neg_nll([1000.0, 1001.0, 1002.0])) == pytest.approx(1.0)


def test_margin_is_top_two_probability_gap():
    assert margin([1.0, 1.0 + math.log(3)]) == pytest.approx(0.5)
    assert margin([2.0, 2.0, 9.0]) == pytest.approx(0.0, abs=1e-12)
    assert margin([5.0]) == 1.0
    assert margin([3.0, 0.5, 7.0]) == margin([0.5, 3.0, 7.0])


def test_tau_threshold_decides_uncertainty():
    nlls = [1.0, 1.0 + math.log(3)]  # margin 0.5
    assert judge("margin", 0.6, nlls=nlls).uncertain
    assert not judge("margin", 0.5, nlls=nlls).uncertain  # uncertain only strictly below tau
    assert not judge("margin", 0.4, nlls=nlls).uncertain


def test_self_consistency_agreement():
    assert agreement(["a", "a", "b", "a"]) == 0.75
    assert agreement(["x"]) == 1.0
    assert judge("agreement", 0.8, answers=["a", "b", "c", "a"]).confidence == 0.5
    with pytest.raises(ValueError):
        agreement([])


def test_self_certainty_is_geometric_mean_probability():
    assert self_certainty([math.log(0.5), math.log(0.5)]) == pytest.approx(0.5)
    assert self_certainty([]) == 1.0
    assert judge("self_certainty", 0.9, token_logprobs=[math.log(0.25)]).uncertain


def test_unknown_estimator_and_missing_inputs_are_errors():
    with pytest.raises(ValueError, match="unknown uncertainty estimator"):
        judge("vibes", 0.5)
    with pytest.raises(ValueError, match="NLLs"):
        judge("margin", 0.5)


def test_normalize_code_ignores_formatting_and_comments():
    a = "```python\ndef f(x):\n    # double\n    return x*2\n```"
    b = "Here:\n```python\ndef f(x):\n    return x * 2\n```\nDone."
    assert normalize_code(a, "f") == normalize_code(b, "f")


def test_parse_synthetic_keeps_function_and_asserts():
    reply = (
        '```python\nimport math\n\ndef area(r):\n    """Area of a circle of radius r."""\n'
        "    return math.pi * r * r\n\n"
        "assert area(0) == 0\nassert round(area(1), 2) == 3.14\nprint('ok')\n```"
    )
    task = parse_synthetic(reply)
    assert task is not None and task.entry_point == "area"
    assert "import math" in task.solution and "assert" not in task.solution
    assert task.tests.count("assert") == 2
    assert task.prompt.startswith("import math") and "def area(r):" in task.prompt and "Examples:" in task.prompt
    assert parse_synthetic("def f(x):\n    return x\n") is None  # no asserts
    assert parse_synthetic("```python\ndef f(:\n```") is None  # not Python


def _result(uncertain: bool, base: bool, variant: bool, seconds: float = 0.0) -> InputResult:
    return InputResult(
        task_id="t",
        confidence=0.1 if uncertain else 0.9,
        uncertain=uncertain,
        base_passed=base,
        variant_passed=variant,
        synthesis_seconds=seconds,
    )


def test_report_summary_splits_uncertain_and_confident():
    report = TTSIReport(variant="tt-si", config={})
    report.results = [
        _result(True, False, True, 2.0),
        _result(True, False, False, 4.0),
        _result(False, True, True),
        _result(False, False, False),
    ]
    s = report.summary()
    assert s["inputs"] == 4 and s["uncertain_share"] == 0.5
    assert s["base"]["passed"] == 1 and s["adapted"]["passed"] == 2
    assert s["variant_on_uncertain"]["rate"] == 0.5 and s["base_on_confident"]["rate"] == 0.5
    assert s["adaptation_seconds_per_uncertain"]["median"] == 3.0
    lo, hi = s["adapted"]["ci95"]
    assert 0 < lo < 0.5 < hi < 1


WRONG = "```python\ndef add_one(x):\n    return x\n```"
RIGHT = "```python\ndef add_one(x):\n    return x + 1\n```"
GOOD_EXAMPLE = '```python\ndef add_two(x):\n    """Add two."""\n    return x + 2\n\nassert add_two(1) == 3\n```'
BAD_EXAMPLE = "```python\ndef add_three(x):\n    return x\n\nassert add_three(1) == 4\n```"


class ScriptedLLM:
    """Answers wrongly alone, rightly with examples in context; writes one passing and one failing exercise."""

    model_id = "scripted"
    adapter = None

    def __init__(self) -> None:
        self.contexts: list[Messages] = []

    def generate(self, messages: Messages, *, n: int = 1, temperature: float = 0.0, **_: object) -> list[Completion]:
        if messages[0]["content"] == SYNTH_SYSTEM:
            texts = [GOOD_EXAMPLE, BAD_EXAMPLE, "no code at all"] * n
            return [Completion(text=t) for t in texts[:n]]
        self.contexts.append(messages)
        if len(messages) > 2:
            return [Completion(text=RIGHT)] * n
        if temperature > 0:
            return [Completion(text=RIGHT if i % 2 else WRONG) for i in range(n)]
        return [Completion(text=WRONG, token_logprobs=(-0.1,))]

    def generate_batch(self, conversations: Sequence[Messages], **kw: object) -> list[list[Completion]]:
        return [self.generate(m, **kw) for m in conversations]

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        return [CandidateScore(nll=5.0 + 0.01 * i, num_tokens=10) for i in range(len(candidates))]

    def with_adapter(self, path: str | None) -> ScriptedLLM:
        return self


TASK = TaskSpec(
    task_id="toy/0",
    instruction="",
    data={
        "prompt": 'def add_one(x: int) -> int:\n    """Return x + 1."""\n',
        "entry_point": "add_one",
        "test": "def check(candidate):\n    assert candidate(1) == 2\n",
    },
)


def test_tt_icl_pipeline_keeps_only_verified_examples(sandbox):
    llm = ScriptedLLM()
    report = run_ttsi(llm, [TASK], TTSIConfig(variant="tt-icl", tau=0.5, k=2, synthesis_tries=2), sandbox=sandbox)
    (row,) = report.results
    assert row.uncertain and row.candidates == 2 and row.confidence < 0.5
    assert not row.base_passed and row.variant_passed
    assert row.examples == 1 and row.examples_written == 3  # the malformed reply is not counted; one failed its tests
    shots = llm.contexts[-1]
    assert len(shots) == 4 and "add_two" in shots[1]["content"] and "add_three" not in str(shots)


def test_confident_inputs_keep_the_base_answer(sandbox):
    llm = ScriptedLLM()
    report = run_ttsi(llm, [TASK], TTSIConfig(variant="tt-icl", tau=0.0), sandbox=sandbox)
    (row,) = report.results
    assert not row.uncertain and row.examples == 0 and row.variant_passed == row.base_passed


def test_weight_variants_refuse_backends_without_weights(sandbox):
    with pytest.raises(TypeError, match="tt-icl"):
        run_ttsi(ScriptedLLM(), [TASK], TTSIConfig(variant="tt-si"), sandbox=sandbox)
    with pytest.raises(ValueError, match="teacher"):
        run_ttsi(ScriptedLLM(), [TASK], TTSIConfig(variant="tt-d"), sandbox=sandbox)
