"""Reflection + self-consistency without ground truth: example extraction, behaviour in the real sandbox, the vote."""

import time

import pytest

from agents.types import Completion
from environments.base import TaskSpec
from environments.code.consistency import (
    Candidate,
    ConsistencyConfig,
    behaviour,
    choose,
    evaluate_consistency,
    example_calls,
    gather_candidates,
    passes_tests,
    summarize_consistency,
    vote,
)
from reflection.reflector import BLIND_REFLECT_SYSTEM, REFLECTION_START, blind_reflection_prompt
from training.self_training import SelfTrainConfig

PROMPT = '''def double(x: int) -> int:
    """Return twice x.
    >>> double(2)
    4
    >>> double(-3)
    -6
    """
'''
TEST = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-3) == -6\n"
TEST += "    assert candidate(0) == 0\n"


def _task(test: str = TEST) -> TaskSpec:
    return TaskSpec("t/double", PROMPT, {"prompt": PROMPT, "entry_point": "double", "test": test})


def _cand(origin: str, code: str | None) -> Candidate:
    return Candidate(origin, f"```python\n{code}```" if code else "no code", code)


def test_example_calls_come_from_the_entry_points_docstring_with_escapes_decoded():
    prompt = (
        "def helper(s):\n    '''>>> helper('x')\n    'x'\n    '''\n    return s\n\n\n"
        "def count_lines(s: str) -> int:\n"
        '    """Count lines.\n    >>> count_lines("a\\\\nb")\n    2\n    >>> count_lines("") == 0\n    True\n    """\n'
    )
    assert example_calls(prompt, "count_lines") == ['count_lines("a\\nb")', 'count_lines("") == 0']
    assert example_calls("def f(x):\n    '''Return x.'''\n", "f") == []
    assert example_calls("def broken(:\n    >>> broken(1)\n    1\n", "broken") == ["broken(1)"]


def test_vote_takes_the_largest_cluster_and_breaks_ties_by_the_earliest_candidate():
    a, b, c = ("= 1",), ("= 2",), ("! ValueError",)
    assert vote([a, b, b, c]).chosen == 1 and vote([a, b, b, c]).clusters == ((1, 2), (0,), (3,))
    assert vote([a, b, c]).chosen == 0  # nothing agrees: the first answer
    assert vote([b, a, a, b]).chosen == 0  # a tie goes to the cluster whose first member comes first
    assert vote([None, b, None]).chosen == 1  # candidates without code have no vote
    assert vote([None, None]).chosen == 0 and vote([None, None]).support == 0


def test_the_majority_behaviour_wins_in_the_real_sandbox(sandbox):
    task = _task()
    cands = [
        _cand("first", "def double(x):\n    return x + 2\n"),  # right on double(2), wrong on double(-3)
        _cand("reflection 1", "def double(x):\n    print('noise')\n    return 2 * x\n"),
        _cand("sample 1", "def double(x: int) -> int:\n    return x + x\n"),
        _cand("sample 2", None),
    ]
    behaviours, chosen = choose(sandbox, task, cands)
    assert behaviours[0] == ("= 4", "= -1") and behaviours[1] == behaviours[2] == ("= 4", "= -6")
    assert behaviours[3] is None
    assert chosen.chosen == 1 and chosen.support == 2 and passes_tests(sandbox, task, cands[1].code)
    assert not passes_tests(sandbox, task, cands[0].code) and not passes_tests(sandbox, task, None)


def test_exceptions_cluster_by_type_and_dicts_and_sets_by_content(sandbox):
    task = _task()
    calls = ["double(2)"]
    raise_a = behaviour(sandbox, PROMPT, "def double(x):\n    raise ValueError('a')\n", calls)
    raise_b = behaviour(sandbox, PROMPT, "def double(x):\n    return int('not a number')\n", calls)
    type_err = behaviour(sandbox, PROMPT, "def double(x):\n    return x + 'a'\n", calls)
    assert raise_a == raise_b == ("! ValueError",) and type_err == ("! TypeError",)
    broken_module = behaviour(sandbox, PROMPT, "1 / 0\ndef double(x):\n    return 2 * x\n", calls)
    assert broken_module == ("! ZeroDivisionError",)
    one = behaviour(sandbox, PROMPT, "def double(x):\n    return {'b': 1, 'a': {3, 1, 2}}\n", calls)
    other = behaviour(sandbox, PROMPT, "def double(x):\n    return {'a': {2, 3, 1}, 'b': 1}\n", calls)
    assert one == other
    assert vote([type_err, raise_a, raise_b]).chosen == 1
    assert choose(sandbox, task, [_cand("first", "def double(x):\n    return x * 2\n")])[1].chosen == 0


def test_a_candidate_that_times_out_is_a_behaviour_of_its_own(sandbox):
    calls = ["double(2)", "double(-3)"]
    start = time.perf_counter()
    looping = behaviour(sandbox, PROMPT, "def double(x):\n    while x:\n        pass\n    return 0\n", calls, 0.3)
    assert looping == ("timeout", "timeout") and time.perf_counter() - start < 5
    at_import = behaviour(sandbox, PROMPT, "while True:\n    pass\n", calls, 0.3)
    assert at_import == ("timeout", "timeout")
    right = behaviour(sandbox, PROMPT, "def double(x):\n    return 2 * x\n", calls, 0.3)
    assert vote([looping, right, right]).chosen == 1


class _Spy:
    """A sandbox that records every program it is asked to run."""

    name = "spy"

    def __init__(self, inner):
        self.inner = inner
        self.programs = []

    def run(self, code=None, **kwargs):
        self.programs.append(code)
        return self.inner.run(code, **kwargs)

    def close(self):
        pass


def test_voting_never_runs_the_hidden_tests(sandbox):
    # tests that only the minority candidate passes: voting must not notice them
    task = _task("def check(candidate):\n    assert candidate(100) == 7  # HIDDEN\n")
    cands = [
        _cand("first", "def double(x):\n    return 2 * x\n"),
        _cand("reflection 1", "def double(x):\n    return x * 2\n"),
        _cand("sample 1", "def double(x):\n    return 7 if x == 100 else 2 * x\n"),
    ]
    spy = _Spy(sandbox)
    _, chosen = choose(spy, task, cands)
    assert chosen.chosen == 0 and len(spy.programs) == 3
    assert not any("HIDDEN" in p or "check(" in p for p in spy.programs)
    assert not passes_tests(sandbox, task, cands[chosen.chosen].code)


def test_blind_reflection_prompt_shows_the_task_and_answer_but_no_feedback():
    msgs = blind_reflection_prompt("Write double.", "def double(x): return x", ("Reflection: I should have read.",))
    assert msgs[0]["content"] == BLIND_REFLECT_SYSTEM and msgs[-1] == {"role": "assistant", "content": REFLECTION_START}
    user = msgs[1]["content"]
    assert "Write double." in user and "def double(x): return x" in user and "I should have read." in user
    assert "Feedback" not in user and "fail" not in user.lower()


class _ScriptedLLM:
    """Answers code prompts with `x + x` once a lesson is in the prompt, else `x + 2`; records every prompt."""

    model_id = "scripted"
    adapter = None

    def __init__(self):
        self.prompts = []

    def generate_batch(self, conversations, *, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        self.prompts += conversations
        outs = []
        for conv in conversations:
            if conv[-1]["role"] == "assistant":  # a reflection
                outs.append([Completion(text=" returned x + x.")] * n)
            else:
                body = "x + x" if "Lessons" in conv[-1]["content"] else "x + 2"
                outs.append([Completion(text=f"```python\ndef double(x):\n    return {body}\n```")] * n)
        return outs


def test_candidates_are_first_answer_blind_reflections_then_samples_and_reflections_see_no_tests(sandbox):
    llm = _ScriptedLLM()
    task = _task()
    found = gather_candidates(llm, [task], ConsistencyConfig(rounds=2, samples=1), first={task.task_id: "no code"})
    cands = found[task.task_id]
    assert [c.origin for c in cands] == ["first", "reflection 1", "reflection 2", "sample 1"]
    assert cands[0].code is None and cands[2].reflections[-1] == f"{REFLECTION_START} returned x + x."
    assert all("check(" not in m["content"] and "assert" not in m["content"] for p in llm.prompts for m in p)
    tie = evaluate_consistency(llm, [task], sandbox, ConsistencyConfig(rounds=2, samples=1))[0]
    # first and sample 1 (x + 2) tie with the two reflected answers (x + x): the earlier cluster wins
    assert tie.vote.clusters == ((0, 3), (1, 2)) and tie.vote.chosen == 0 and not tie.passed
    won = evaluate_consistency(llm, [task], sandbox, ConsistencyConfig(rounds=3, samples=1))[0]
    assert won.vote.clusters == ((1, 2, 3), (0, 4)) and won.passed
    assert won.reflection_passed and not won.first_passed and won.majority_passed is False
    summary = summarize_consistency([tie, won])
    assert summary["success_consistency"] == 0.5 and summary["success_last_reflection"] == 1.0
    assert summary["success_first"] == summary["success_majority"] == 0.0 and summary["mean_candidates"] == 4.5


def test_household_and_non_code_tasks_are_refused(sandbox):
    with pytest.raises(ValueError, match="household environment has no self-consistency vote"):
        SelfTrainConfig(env="household", consistency_eval=True)
    SelfTrainConfig(env="household")  # without the vote it is fine
    chore = TaskSpec("h/1", "put a mug on the table", {"goal": "mug on table"})
    with pytest.raises(ValueError, match="needs code tasks"):
        choose(sandbox, chore, [])


@pytest.mark.slow
def test_reflection_and_vote_end_to_end_on_the_real_model(llm, sandbox):
    from environments.code.tasks import load_code_tasks

    tasks = load_code_tasks("easy", "test", 1)
    config = ConsistencyConfig(rounds=1, samples=1, max_tokens=96, reflection_tokens=32)
    outcomes = evaluate_consistency(llm, tasks, sandbox, config)
    assert [o.task_id for o in outcomes] == [t.task_id for t in tasks]
    for o in outcomes:
        assert [c.origin for c in o.candidates] == ["first", "reflection 1", "sample 1"]
        assert o.candidates[1].reflections[0].startswith(REFLECTION_START) and o.examples >= 1
        assert isinstance(o.passed, bool) and o.majority_passed is not None and o.reflection_passed is not None
        voted = [b for b in o.behaviours if b is not None]
        assert all(len(b) == o.examples for b in voted)
    summary = summarize_consistency(outcomes)
    assert summary["tasks"] == 1 and 0.0 <= summary["success_consistency"] <= 1.0


def test_household_consistency_eval_is_one_clear_cli_error(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "agents.cli", "self-train", "--env", "household", "--consistency-eval"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "household environment has no self-consistency vote" in " ".join(proc.stderr.split())


class _StubCoder:
    """Writes `def ENTRY(*args): return None` for any code task; reflections are a fixed sentence."""

    model_id = "stub"
    adapter = None
    identity = "stub"

    def generate_batch(self, conversations, *, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None):
        outs = []
        for conv in conversations:
            if conv[-1]["role"] == "assistant":
                outs.append([Completion(text=" tested the examples.")] * n)
                continue
            entry = conv[-1]["content"].split("`")[1]
            outs.append([Completion(text=f"```python\ndef {entry}(*args):\n    return None\n```")] * n)
        return outs


def test_self_training_runs_the_vote_as_a_stage_of_its_own_and_reports_it(tmp_path):
    import json

    from agents.store import Store
    from training.self_training import SelfTrainer

    config = SelfTrainConfig(eval_limit=2, consistency_eval=True, consistency_rounds=1, consistency_samples=1)
    llm = _StubCoder()
    stages = []
    with Store(tmp_path / "kintsugi.db") as store:
        trainer = SelfTrainer(
            store, tmp_path, config, lambda _adapter: llm, on_stage=lambda it, s, state: stages.append((s, state))
        )
        ev = trainer._run_stage(0, "eval", lambda p: trainer._agent_run(0, "eval", llm, trainer._eval_config(), p))
        result = trainer._consistency_eval(0, llm, ev)
        assert result["tasks"] == 2 and result["success_consistency"] == 0.0 == result["success_majority"]
        rows = [json.loads(line) for line in (tmp_path / "iter0" / "consistency.jsonl").read_text().splitlines()]
        assert [[c["origin"] for c in r["candidates"]] for r in rows] == [["first", "reflection 1", "sample 1"]] * 2
        # the greedy evaluation's replies are the first answers; every candidate behaves alike, so the first is voted
        assert all(r["chosen"] == "first" and r["support"] == 3 for r in rows)
        report = trainer._report(0, {"eval": ev, "eval_consistency": result})
        assert report.eval_with_consistency == 0.0 and len(report.eval_with_consistency_ci95) == 2
        assert report.eval_with_majority == 0.0 and "eval_consistency" in report.stage_seconds
        stages.clear()
        assert trainer._consistency_eval(0, llm, ev)["tasks"] == 2 and stages == []  # finished: never redone
        assert SelfTrainer(store, tmp_path, SelfTrainConfig(), lambda _a: llm)._consistency_eval(0, llm, ev) is None
