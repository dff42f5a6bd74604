"""Per-step TT-SI on the tools environment: the same engine as the household's (`training.ttsi_steps`) with the
tools environment's example writers, so TT-SI, TT-D and TT-ICL run there with no tools-specific engine code."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agents.types import CandidateScore, Completion, Messages
from environments.base import get_entry
from environments.tools.ttsi_examples import SYNTH_SYSTEM, ExpertWriter, ModelWriter, expert_examples, make_writer
from training.ttsi import TTSIConfig
from training.ttsi_steps import StepTTSIConfig, run_step_ttsi_variants

ENTRY = get_entry("tools")
TASK = next(t for t in ENTRY.load_tasks(None, "test", None) if t.data["template"] == "price_message")


class ScriptedLLM:
    """Greedily answers without calling a tool (a wrong final answer); sampled replies differ, so every step is
    uncertain; with in-context examples (more `Task:` openings than one) it makes the expert's next call instead."""

    model_id = "scripted"
    adapter = None

    def __init__(self, written: Sequence[str] = ()) -> None:
        self.written = list(written)

    def generate(self, messages: Messages, *, n: int = 1, temperature: float = 0.0, **_: object) -> list[Completion]:
        if messages[0]["content"] == SYNTH_SYSTEM:
            return [Completion(text=t) for t in self.written[:n]]
        if temperature > 0:
            return [Completion(text=t) for t in ["I do not know.", "Maybe 3."][:n]]
        openings = sum(m["content"].startswith("Task:") for m in messages if m["role"] == "user")
        if openings > 1:
            env = ENTRY.make(TASK)
            env.reset()
            start = max(i for i, m in enumerate(messages) if m["content"].startswith(f"Task: {TASK.instruction}"))
            done = sum(1 for m in messages[start:] if m["role"] == "assistant")
            replies = ENTRY.expert(env)
            return [Completion(text=replies[min(done, len(replies) - 1)])]
        return [Completion(text="It costs 3.")]

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        return [CandidateScore(nll=1.0 + 0.1 * i, num_tokens=1) for i in range(len(candidates))]


def test_expert_examples_are_similar_train_tasks_played_by_the_expert():
    examples = expert_examples(TASK, 2, 3, seed=0)
    assert len(examples) == 3
    for conversation in examples:
        assert conversation[1]["content"].startswith("Task: ") and conversation[-1]["role"] == "assistant"
        assert len([m for m in conversation if m["role"] == "assistant"]) <= 3
        assert "<tool_call>" in conversation[-1]["content"] or conversation[-1]["content"]
    assert examples == expert_examples(TASK, 2, 3, seed=0)  # reproducible


def test_a_model_written_example_is_kept_only_with_a_valid_call_to_an_offered_tool():
    replies = [
        ' How much do 3 pens cost?\n<tool_call>\n{"name": "shop_search", "arguments": {"query": "pen"}}\n</tool_call>',
        ' Order a pen.\n<tool_call>\n{"name": "shop_order", "arguments": {"item_id": "p1"}}\n</tool_call>',  # bad args
        ' Fly me home.\n<tool_call>\n{"name": "book_flight", "arguments": {}}\n</tool_call>',  # not offered
        " Just chat.",  # no call: not an example
    ]
    kept, written = ModelWriter(ScriptedLLM(written=replies)).write(TASK, [], TTSIConfig(k=2, synthesis_tries=2))
    assert written == 3 and len(kept) == 1
    assert kept[0][1]["content"].startswith("Task: How much do 3 pens cost?\nTools:\n")
    assert '"name": "shop_search"' in kept[0][-1]["content"]


def test_the_writer_for_each_variant():
    llm = ScriptedLLM()
    steps = StepTTSIConfig()
    assert isinstance(make_writer("tt-d", llm, None, steps), ExpertWriter)
    assert isinstance(make_writer("tt-si", llm, "expert", steps), ExpertWriter)
    assert make_writer("tt-icl", llm, None, steps).llm is llm
    with pytest.raises(ValueError, match="unknown tools teacher"):
        make_writer("tt-d", llm, "gpt-9", steps)


def test_tt_icl_with_the_expert_turns_uncertain_steps_into_the_expert_calls_and_wins():
    config = TTSIConfig(tau=0.9, k=2)
    steps = StepTTSIConfig(max_steps=8, max_adaptations=8, prompt="compact")  # no few-shot tasks in the prefix
    report = run_step_ttsi_variants(ScriptedLLM(), ENTRY, [TASK], config, ["tt-icl"], steps, teacher="expert")["tt-icl"]
    [episode] = report.episodes
    assert not episode.base_won and episode.variant_won
    assert episode.base_steps == 1 and episode.variant_steps == len(TASK.data["calls"]) + 1
    assert all(row.uncertain and row.examples == 2 for row in episode.judged)
    assert [row.base_valid for row in episode.judged] == [None] * len(episode.judged)  # the env lists no actions
    summary = report.summary()
    assert summary["env"] == "tools" and summary["config"]["writer"] == "expert:tools"
    assert (summary["base"]["passed"], summary["adapted"]["passed"]) == (0, 1)
