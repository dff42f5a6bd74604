"""Per-step TT-SI (`training.ttsi_steps`) in the household env: candidates and uncertainty, the expert's and the
model's examples, the episode loop, exact restore of the base weights after an adapted step, and one end-to-end game
with the real model."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agents.types import CandidateScore, Completion, Messages
from environments.base import get_entry
from environments.household import INSTRUCTIONS, HouseholdEnv, load_tasks, parse_action
from environments.household.ttsi_examples import (
    SYNTH_SYSTEM,
    ExpertWriter,
    ModelWriter,
    expert_examples,
    parse_written_example,
    situation_of,
    valid_command,
    writer_for,
)
from training.ttsi import TTSIConfig, TTSIOptions
from training.ttsi_steps import (
    EpisodeResult,
    StepResult,
    StepTTSIConfig,
    StepTTSIReport,
    answer_with_examples,
    candidate_replies,
    judge_step,
    play_episode,
    run_step_ttsi_variants,
)
from training.uncertainty import margin

TASK = load_tasks(None, "valid_unseen", 1)[0]
ENTRY = get_entry("household")


def opening() -> tuple[Messages, list[str]]:
    """The episode's first prompt without the few-shot turns (short, so model tests stay fast), and its actions."""
    obs, info = HouseholdEnv(TASK).reset()
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": obs}], info["admissible_actions"]


class ScriptedLLM:
    """Greedy replies `look`; samples `> Look` (the same action) then `inventory`; `inventory` when the context holds
    in-context examples (more opening observations than `openings`); written examples for synthesis requests."""

    model_id = "scripted"
    adapter = None

    def __init__(self, written: Sequence[str] = (), openings: int = 1) -> None:
        self.written = list(written)
        self.openings = openings
        self.scored: list[list[str]] = []

    def generate(self, messages: Messages, *, n: int = 1, temperature: float = 0.0, **_: object) -> list[Completion]:
        if messages[0]["content"] == SYNTH_SYSTEM:
            return [Completion(text=t) for t in self.written[:n]]
        if temperature > 0:
            return [Completion(text=t) for t in ["> Look", "inventory", "look"][:n]]
        openings = sum(m["content"].startswith("-= Welcome") for m in messages)
        return [Completion(text="inventory" if openings > self.openings else "look", token_logprobs=(-0.1,))]

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        self.scored.append(list(candidates))
        return [CandidateScore(nll=1.0 + i, num_tokens=1) for i in range(len(candidates))]


# self-awareness -----------------------------------------------------------------------------------------------------
def test_candidates_are_deduplicated_by_parsed_action_and_margin_uses_their_scores():
    llm, (messages, _) = ScriptedLLM(), opening()
    greedy = llm.generate(messages)[0]
    config = TTSIConfig(num_candidates=4, tau=0.5)
    distinct, actions = candidate_replies(llm, ENTRY, messages, greedy, config, StepTTSIConfig())
    assert distinct == ["look", "inventory"] and actions == ["look", "look", "inventory", "look"]
    verdict, n = judge_step(llm, ENTRY, messages, greedy, config, StepTTSIConfig())
    assert llm.scored == [["look", "inventory"]] and n == 2
    assert verdict.confidence == pytest.approx(margin([1.0, 2.0])) == pytest.approx(0.4621, abs=1e-4)
    assert verdict.uncertain


def test_admissible_candidates_are_the_greedy_reply_then_other_admissible_actions_capped():
    llm, (messages, admissible) = ScriptedLLM(), opening()
    greedy = Completion(text=f"> {admissible[1].upper()}")
    household = StepTTSIConfig(candidates="admissible", max_admissible=3)
    distinct, _ = candidate_replies(llm, ENTRY, messages, greedy, TTSIConfig(), household, admissible=admissible)
    assert distinct == [greedy.text, admissible[0], admissible[2]]


def test_agreement_and_self_certainty_need_no_scores():
    llm, (messages, _) = ScriptedLLM(), opening()
    greedy = llm.generate(messages)[0]
    verdict, _ = judge_step(llm, ENTRY, messages, greedy, TTSIConfig(estimator="agreement", tau=0.8), StepTTSIConfig())
    assert verdict.confidence == 0.75 and verdict.uncertain
    verdict, n = judge_step(llm, ENTRY, messages, greedy, TTSIConfig(estimator="self_certainty"), StepTTSIConfig())
    assert n == 1 and not verdict.uncertain and llm.scored == []


def test_bad_settings_are_errors_before_any_work():
    with pytest.raises(ValueError, match="sampled candidates"):
        run_step_ttsi_variants(
            ScriptedLLM(),
            ENTRY,
            [TASK],
            TTSIConfig(estimator="agreement"),
            ["tt-icl"],
            StepTTSIConfig(candidates="admissible"),
        )
    with pytest.raises(ValueError, match="candidate mode"):
        run_step_ttsi_variants(ScriptedLLM(), ENTRY, [TASK], TTSIConfig(), ["tt-icl"], StepTTSIConfig(candidates="all"))
    with pytest.raises(TypeError, match="tt-icl"):
        run_step_ttsi_variants(ScriptedLLM(), ENTRY, [TASK], TTSIConfig(), ["tt-si"])


# self-data augmentation ---------------------------------------------------------------------------------------------
def test_household_grammar():
    good = ["look", "inventory", "go to countertop 2", "open fridge 1", "take mug 1 from countertop 2",
            "move mug 1 to shelf 3", "heat mug 1 with microwave 1", "clean apple 2 with sinkbasin 1",
            "use desklamp 1", "examine laptop 1"]  # fmt: skip
    bad = ["think: find the mug", "open sofa 1", "heat mug 1 with fridge 1", "take mug from countertop 2",
           "go to the fridge", "take mug 1 to countertop 2", "use mug 1", "go to countertop 0", "kill bus 2",
           ""]  # fmt: skip
    assert [valid_command(a) for a in good] == [True] * len(good)
    assert [valid_command(a) for a in bad] == [False] * len(bad)


def test_expert_examples_are_similar_games_whose_every_action_the_env_accepts():
    step = 4
    pairs = expert_examples(TASK, step, 3, seed=0)
    assert len(pairs) == 3 and len({game.task_id for game, _ in pairs}) == 3
    for game, conversation in pairs:
        assert game.task_id.startswith("train/") and game.data["task_type"] == TASK.data["task_type"]
        assert conversation[0]["content"] == INSTRUCTIONS and conversation[-1]["role"] == "assistant"
        env = HouseholdEnv(game)
        obs, info = env.reset()
        assert conversation[1]["content"] == obs
        turns = conversation[2:]
        assert len(turns) == 2 * step + 1  # the expert's first step + 1 actions, with the observations between
        for i in range(0, len(turns), 2):
            action = turns[i]["content"]
            assert action.startswith("think:") or action in info["admissible_actions"], (game.task_id, action)
            obs, _, _, _, info = env.step(action)
            if i + 1 < len(turns):
                assert turns[i + 1]["content"] == obs
    assert expert_examples(TASK, step, 3, seed=0) == pairs
    assert [g.task_id for g, _ in expert_examples(TASK, step, 3, seed=1)] != [g.task_id for g, _ in pairs]
    oracle = expert_examples(TASK, 50, 1, expert="oracle")[0][1]
    assert not any(m["content"].startswith("think:") for m in oracle if m["role"] == "assistant")


def test_model_written_examples_are_kept_only_when_their_command_is_in_the_grammar():
    good = (
        " You arrive at countertop 1. On the countertop 1, you see a peppershaker 2.\n"
        "Command: take peppershaker 2 from countertop 1"
    )
    replies = [
        good,
        good,  # a duplicate
        " You arrive at sofa 1.\nCommand: take the peppershaker",  # not in the grammar
        " You see a dog 2.\nCommand: kill dog 2",  # not in the grammar
        " You are in a room that has a dog.",  # no command: not an example at all
        " You are in the middle of a room. You see a cabinet 5.\nCommand: > Open cabinet 5",
    ]
    llm = ScriptedLLM(written=replies)
    kept, written = ModelWriter(llm).write(TASK, opening()[0][1:], TTSIConfig(k=3, synthesis_tries=2))
    assert written == 5
    assert [ex[-1]["content"] for ex in kept] == ["take peppershaker 2 from countertop 1", "open cabinet 5"]
    task_line = f"Your task is to: {TASK.data['task_text']}"
    assert kept[0][1]["content"].endswith(task_line) and kept[0][0]["content"] == INSTRUCTIONS
    assert parse_written_example("Task: x\nObservation: y\nCommand: go to bed 1").command == "go to bed 1"


def test_situation_skips_observations_that_say_nothing():
    episode = [
        {"role": "user", "content": "-= Welcome =- ..."},
        {"role": "assistant", "content": "go to bed 1"},
        {"role": "user", "content": "You arrive at bed 1. On the bed 1, you see a pillow 1."},
        {"role": "assistant", "content": "take cat 1 from bed 1"},
        {"role": "user", "content": "Nothing happens."},
        {"role": "assistant", "content": "think: hmm"},
        {"role": "user", "content": "OK."},
    ]
    situation = situation_of(TASK, episode)
    assert situation.step == 3 and situation.observation.startswith("You arrive at bed 1")


class ShortContextLLM(ScriptedLLM):
    """Refuses, as the transformers backend does, a conversation longer than `turns` messages."""

    def __init__(self, turns: int) -> None:
        super().__init__()
        self.turns = turns
        self.lengths: list[int] = []

    def generate(self, messages: Messages, **kwargs: object) -> list[Completion]:
        self.lengths.append(len(messages))
        if len(messages) > self.turns:
            raise ValueError(f"{len(messages)} turns are over the model's context")
        return super().generate(messages, **kwargs)


def test_tt_icl_drops_examples_that_do_not_fit_the_context():
    prompt, _ = opening()
    example = [{"role": "user", "content": "-= Welcome =- go"}, {"role": "assistant", "content": "look"}]
    llm = ShortContextLLM(turns=len(prompt) + 4)
    reply, _, _ = answer_with_examples(llm, prompt[:1], prompt[1:], [example] * 4, TTSIConfig(), "tt-icl", 8, ["\n"])
    assert reply.text == "inventory"  # answered with the two examples that fit
    assert llm.lengths == [len(prompt) + 8, len(prompt) + 6, len(prompt) + 4]
    with pytest.raises(ValueError, match="context"):
        answer_with_examples(
            ShortContextLLM(turns=1), prompt[:1], prompt[1:], [example], TTSIConfig(), "tt-icl", 8, ["\n"]
        )


def test_writer_for_each_variant():
    llm = ScriptedLLM()
    assert isinstance(writer_for("tt-d", llm, None), ExpertWriter)
    assert isinstance(writer_for("tt-si", llm, "expert"), ExpertWriter)
    assert writer_for("tt-si", llm, None).llm is llm and writer_for("tt-icl", llm, None).llm is llm
    teacher = ScriptedLLM()
    assert writer_for("tt-d", llm, teacher).llm is teacher
    with pytest.raises(ValueError, match="teacher"):
        writer_for("tt-d", llm, "gpt-9")


# episodes and the report --------------------------------------------------------------------------------------------
def test_only_the_uncertain_step_is_adapted_and_the_cap_stops_judging():
    llm = ScriptedLLM()
    prefix = [{"role": "system", "content": INSTRUCTIONS}]
    config, household = TTSIConfig(num_candidates=3, tau=0.5, k=2), StepTTSIConfig(max_steps=4, max_adaptations=1)
    base = play_episode(llm, ENTRY, TASK, prefix, config, household)
    assert base.steps == 4 and base.judged == () and not base.won
    run = play_episode(llm, ENTRY, TASK, prefix, config, household, variant="tt-icl", writer=ExpertWriter())
    [row] = run.judged
    assert row.step == 0 and row.uncertain and row.examples == 2 and row.examples_written == 2
    assert (row.base_action, row.action) == ("look", "inventory") and row.base_valid and row.valid
    assert run.steps == 4 and len(llm.scored) == 1


def test_tt_si_command_runs_the_household_env_per_step():
    from training.ttsi import ttsi_command

    summary = ttsi_command(
        env="household", variant="tt-icl", teacher_model="expert", limit=1,
        options=TTSIOptions(max_steps=2, max_adaptations=1), tau=0.9,
        llm=ScriptedLLM(openings=2),  # the few-shot prefix holds one more opening
    )  # fmt: skip
    assert (summary["env"], summary["split"], summary["suite"], summary["inputs"]) == (
        "household", "valid_unseen", "alfworld-like", 1,
    )  # fmt: skip
    assert summary["steps_judged"] == 1 and summary["actions_changed"] == 1
    assert summary["config"]["writer"] == "expert:demo" and summary["per_input"][0]["judged"][0]["examples"] == 2
    with pytest.raises(ValueError, match="expert teacher"):
        ttsi_command(env="code", teacher_model="expert", llm=ScriptedLLM())


def test_report_counts_episodes_steps_and_adaptation_seconds():
    def step(uncertain: bool, changed: bool = False) -> StepResult:
        return StepResult(step=0, confidence=0.1 if uncertain else 0.9, uncertain=uncertain, candidates=2,
                          base_action="look", action="inventory" if changed else "look", examples=2,
                          base_valid=False, valid=changed, synthesis_seconds=1.0, train_seconds=2.0,
                          answer_seconds=3.0)  # fmt: skip

    episodes = [
        EpisodeResult("a", False, True, 20, 9, (step(True, changed=True), step(False))),
        EpisodeResult("b", True, True, 7, 7, (step(False),)),
        EpisodeResult("c", False, False, 20, 20, (step(True),)),
    ]
    s = StepTTSIReport("household", "tt-si", {}, episodes).summary()
    assert (s["base"]["passed"], s["adapted"]["passed"], s["base"]["n"]) == (1, 2, 3)
    assert s["uncertain_share"] == 0.5 and (s["steps_judged"], s["steps_uncertain"], s["actions_changed"]) == (4, 2, 1)
    assert (s["base_on_uncertain"]["n"], s["variant_on_uncertain"]["passed"], s["base_on_confident"]["passed"]) == (
        2, 1, 1,
    )  # fmt: skip
    assert s["adaptation_seconds_per_uncertain"]["median"] == 6.0 and s["mean_steps"]["variant"] == 12
    assert (s["valid_on_uncertain"]["base"]["passed"], s["valid_on_uncertain"]["variant"]["passed"]) == (0, 1)
    assert 0 < s["adapted"]["ci95"][0] < s["adapted"]["rate"] < s["adapted"]["ci95"][1]


# the real model -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads contend and run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def logits(llm, messages: Messages):
    import torch

    engine = llm._engine
    ids = llm.tokenizer(llm.render(messages), add_special_tokens=False)["input_ids"]
    with engine.lock, engine.activate(llm._adapter_name), torch.inference_mode():
        return engine.model(input_ids=torch.tensor([ids], device=engine.device)).logits.clone()


@pytest.mark.slow
def test_margin_comes_from_real_scores_of_distinct_actions(llm, one_thread):
    messages, _ = opening()
    config = TTSIConfig(num_candidates=4, candidate_temperature=1.0)
    greedy = llm.generate(messages, max_tokens=48, stop=["\n"])[0]
    distinct, actions = candidate_replies(llm, ENTRY, messages, greedy, config, StepTTSIConfig(), seed=3)
    assert distinct[0] == greedy.text and len(actions) == 4
    assert len({a for a in actions}) == len(distinct) == len({parse_action(r) for r in distinct})
    verdict, n = judge_step(llm, ENTRY, messages, greedy, config, StepTTSIConfig(), seed=3)
    assert n == len(distinct)
    assert verdict.confidence == pytest.approx(margin([s.nll for s in llm.score(messages, distinct)]), abs=1e-6)


@pytest.mark.slow
def test_an_adapted_household_step_leaves_the_base_weights_bitwise(llm, one_thread):
    import torch

    messages, _ = opening()
    examples = [conversation for _, conversation in expert_examples(TASK, 2, 2)]
    before, kind = logits(llm, messages), type(llm.model)  # a PeftModel when earlier tests loaded adapters
    reply, train_seconds, _ = answer_with_examples(
        llm,
        messages[:1],
        messages[1:],
        examples,
        TTSIConfig(learning_rate=1e-2, num_train_epochs=1),
        "tt-si",
        48,
        ["\n"],
    )
    assert train_seconds > 0 and reply.text.strip()
    assert torch.equal(logits(llm, messages), before)
    assert type(llm.model) is kind


@pytest.mark.slow
def test_one_household_game_end_to_end_with_the_expert_teacher(llm, one_thread):
    import torch

    config = TTSIConfig(tau=1.0, k=1, num_train_epochs=1)
    household = StepTTSIConfig(max_steps=2, max_adaptations=1, candidates="admissible", max_admissible=3)
    probe = opening()[0]
    before = logits(llm, probe)
    reports = run_step_ttsi_variants(llm, ENTRY, [TASK], config, ["tt-d"], household)
    summary = reports["tt-d"].summary()
    [episode] = reports["tt-d"].episodes
    assert summary["inputs"] == 1 and summary["base"]["n"] == summary["adapted"]["n"] == 1
    assert (summary["steps_judged"], summary["steps_uncertain"], summary["uncertain_share"]) == (1, 1, 1.0)
    [row] = episode.judged
    assert row.candidates == 4 and row.examples == 1 and row.train_seconds > 0 and row.answer_seconds > 0
    assert episode.base_steps == episode.variant_steps == 2
    assert summary["adaptation_seconds_per_uncertain"]["median"] == pytest.approx(row.adaptation_seconds)
    assert summary["config"]["writer"] == "expert:demo"
    assert torch.equal(logits(llm, probe), before)
