"""Re-ReST data rules (no model) and the self-training loop end to end on the real model."""

import json

import pytest

from agents.types import Source, Step, Trajectory
from reflection.reflector import (
    LESSONS_HEADER,
    REFLECTION_START,
    Case,
    ReflectorConfig,
    clean_reflection,
    feedback_of,
    reflection_prompt,
    with_lessons,
)
from training.self_training import SelfTrainConfig, agent_sft_records, reflector_sft_records


def _traj(tid, task, reply, reward, *, source=Source.SAMPLED, parent=None, meta=None, feedback=None):
    step = Step(
        index=0,
        model_output=reply,
        action=reply,
        observation="All tests passed." if reward else "failed",
        reward=reward,
        terminated=reward > 0,
        truncated=reward == 0,
        feedback=feedback,
    )
    return Trajectory(
        id=tid,
        run_id="r",
        task_id=task,
        env="code",
        system_prompt="sys",
        initial_observation=f"Write {task}.",
        steps=(step,),
        source=source,
        parent_id=parent,
        status="done",
        meta=meta or {},
    )


def test_only_environment_confirmed_repairs_reach_the_agent_sft_set():
    sampled = [_traj("s1", "a", "def a(): ok", 1.0), _traj("s2", "b", "def b(): bad", 0.0)]
    repaired = [
        _traj(
            "r1",
            "b",
            "def b(): fixed",
            1.0,
            source=Source.REFLECTED,
            parent="s2",
            meta={"confirmed": True, "reflections": ["Reflection: I should have fixed b."]},
        ),
        _traj("r2", "b", "def b(): claims", 0.0, source=Source.REFLECTED, parent="s2", meta={"confirmed": False}),
        _traj("r3", "c", "def c(): unverified", 1.0, source=Source.REFLECTED, parent="s3", meta={}),
    ]
    records = agent_sft_records(sampled, repaired, max_per_task=5)
    assert [r["trajectory_id"] for r in records] == ["s1", "r1"]
    assert records[1]["parent_id"] == "s2" and records[1]["source"] == "reflected"
    for rec in records:
        text = json.dumps(rec["messages"])
        assert "Reflection:" not in text and LESSONS_HEADER not in text
        assert rec["messages"][-1]["role"] == "assistant"


def test_sft_set_is_deduplicated_and_capped_per_task():
    same = [_traj(f"s{i}", "a", "def a():  return 1", 1.0) for i in range(3)]
    same.append(_traj("s9", "a", "def a(): return  1", 1.0))  # same behaviour up to whitespace
    varied = [_traj(f"v{i}", "b", f"def b(): return {i}", 1.0) for i in range(5)]
    records = agent_sft_records(same + varied, [], max_per_task=2)
    assert [r["trajectory_id"] for r in records] == ["s0", "v0", "v1"]


def test_reflector_set_holds_only_reflections_that_worked():
    prompt = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": REFLECTION_START},
    ]
    good = _traj(
        "r1",
        "b",
        "x",
        1.0,
        source=Source.REFLECTED,
        parent="s2",
        meta={"confirmed": True, "reflections": ["Reflection: I should have x."], "reflection_prompts": [prompt]},
    )
    bad = _traj(
        "r2",
        "b",
        "y",
        0.0,
        source=Source.REFLECTED,
        parent="s2",
        meta={"confirmed": False, "reflections": ["Reflection: I should have y."], "reflection_prompts": [prompt]},
    )
    [rec] = reflector_sft_records([good, bad])
    assert rec["completion"] == [{"role": "assistant", "content": "Reflection: I should have x."}]
    assert [m["role"] for m in rec["prompt"]] == ["system", "user"] and rec["parent_id"] == "s2"


def test_reflection_prompt_sees_the_trial_feedback_and_earlier_reflections():
    failed = _traj("s2", "b", "def b(): bad", 0.0, feedback="assert candidate(2) == 4")
    assert feedback_of(failed) == "assert candidate(2) == 4"
    case = Case(failed=failed, origin_id="s2", reflections=("Reflection: I should have doubled.",))
    msgs = reflection_prompt(case, ReflectorConfig())
    user = msgs[1]["content"]
    assert "def b(): bad" in user and "assert candidate(2) == 4" in user and "I should have doubled" in user
    assert msgs[-1] == {"role": "assistant", "content": REFLECTION_START}
    assert clean_reflection(" returned 2*x.\n\n```python\ncode```") == f"{REFLECTION_START} returned 2*x."
    assert clean_reflection("```python") == f"{REFLECTION_START} read the task and the feedback more carefully."
    assert with_lessons("Task.", ("R1", "R2")).endswith(f"{LESSONS_HEADER}\n- R1\n- R2")


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'dpo'"):
        SelfTrainConfig(method="dpo")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rest", "re-rest"])
def test_self_training_runs_end_to_end_and_never_redoes_a_stage(llm, tmp_path, method):
    from agents.store import Store
    from training.self_training import SelfTrainer

    config = SelfTrainConfig(  # graded: its first train tasks are ones the base model solves, so SFT data exists
        method=method,
        suite="graded",
        samples=2,
        limit=3,
        eval_limit=2,
        epochs=1,
        max_tokens=160,
        reflect_rounds=1,
        max_per_task=2,
        reflexion_eval=method == "re-rest",
    )
    stages = []
    with Store(tmp_path / "kintsugi.db") as store:
        trainer = SelfTrainer(
            store,
            tmp_path,
            config,
            llm.with_adapter,
            on_stage=lambda it, stage, state: stages.append((it, stage, state)),
        )
        report = trainer.run()
        first, it1 = report["iterations"]
        assert first["eval_pass_at_1"] is not None and len(first["eval_ci95"]) == 2
        assert it1["train_success_rate"] is not None
        if method == "re-rest":
            assert it1["failures"] is not None and 0 <= it1["repaired"] <= it1["failures"]
            # Reflexion-style retry can only add successes to the greedy first attempts
            assert first["eval_with_reflexion"] >= first["eval_pass_at_1"]
        else:
            assert it1["failures"] is None
        assert it1["agent_sft_size"] > 0, it1  # something was learned from, so the adapter branch runs
        assert it1["adapter"] and it1["eval_pass_at_1"] is not None and it1["train_loss"] is not None
        rows = [json.loads(x) for x in (tmp_path / "iter1" / "agent_sft.jsonl").read_text().splitlines()]
        ids = {r["trajectory_id"] for r in rows}
        assert len(rows) == it1["agent_sft_size"] and ids
        for traj_id in ids:
            t = store.get_trajectory(traj_id)
            assert t.success and (t.source == Source.SAMPLED or t.meta.get("confirmed"))
        assert json.loads((tmp_path / "report.json").read_text())["run_id"] == report["run_id"]
        runs_before = len(store.runs())
        stages.clear()
        again = SelfTrainer(
            store,
            tmp_path,
            config,
            llm.with_adapter,
            run_id=report["run_id"],
            on_stage=lambda it, stage, state: stages.append((it, stage, state)),
        ).run()
        assert stages == [] and len(store.runs()) == runs_before  # every finished stage was skipped
        assert again["iterations"][1]["eval_pass_at_1"] == it1["eval_pass_at_1"]
