"""Warm start by behaviour cloning: the experts' episodes as stored trajectories, and the data made from them."""

from __future__ import annotations

import dataclasses

import pytest

from agents.runner import RunConfig, replay
from agents.store import Store
from agents.types import Source
from environments.base import get_entry, register
from training.warm_start import WarmStartConfig, WarmStarter, expert_trajectory, sft_records


def test_household_expert_episodes_are_stored_step_by_step_and_replay(tmp_path):
    entry = get_entry("household")
    config = RunConfig(env="household", split="train", prompt="compact")
    with Store(tmp_path / "k.db") as store:
        run = store.create_run({}, kind="expert")
        trajs = [expert_trajectory(store, entry, t, config, run, {}) for t in entry.load_tasks(None, "train", 6)]
        for traj in trajs:
            assert traj.source == Source.EXPERT and traj.status == "done" and traj.success
            assert traj.model == "expert:household" and traj.adapter is None
            assert traj.system_prompt == entry.prompt("compact").system and traj.context == ()
            assert any(s.model_output.startswith("think:") for s in traj.steps)  # the searching expert thinks
            replay(entry.make(entry.load_tasks(None, "train", 6)[trajs.index(traj)]), traj)
        records = sft_records(trajs)
    assert len(records) == 6
    for rec, traj in zip(records, trajs, strict=True):
        roles = [m["role"] for m in rec["messages"]]
        assert roles[:2] == ["system", "user"] and roles[-1] == "assistant"
        assert roles.count("assistant") == len(traj.steps)
        assert rec["source"] == "expert" and rec["trajectory_id"] == traj.id


@pytest.mark.parametrize("suite", ["easy", "graded"])
def test_code_expert_replies_with_reference_solutions_that_pass(tmp_path, sandbox, suite):
    entry = get_entry("code")
    config = RunConfig(env="code", suite=suite, split="train", max_attempts=1)
    with Store(tmp_path / "k.db") as store:
        run = store.create_run({}, kind="expert")
        for task in entry.load_tasks(suite, "train", 12):
            traj = expert_trajectory(store, entry, task, config, run, {"sandbox": sandbox})
            assert traj.success, (task.task_id, traj.steps[-1].observation)
            assert '"""' not in traj.steps[0].model_output  # the docstring is left out of the reply
            assert traj.steps[0].model_output.startswith("```python\n")


def test_warm_start_needs_an_expert_and_a_known_prompt(tmp_path):
    register(dataclasses.replace(get_entry("household"), name="household-no-expert", expert=None))
    with Store(tmp_path / "k.db") as store:
        with pytest.raises(ValueError, match="has no expert"):
            WarmStarter(store, tmp_path, WarmStartConfig(env="household-no-expert"), lambda a: None)  # type: ignore[arg-type,return-value]
        with pytest.raises(ValueError, match="no prompt 'terse'; its prompts: default, compact"):
            WarmStarter(store, tmp_path, WarmStartConfig(prompt="terse"), lambda a: None)  # type: ignore[arg-type,return-value]
    assert WarmStartConfig().resolved_prompt(get_entry("household")) == "compact"
    assert WarmStartConfig(env="code").resolved_prompt(get_entry("code")) is None
    assert WarmStartConfig(env="code").resolved_eval_split(get_entry("code")) == "test"


def test_trained_weights_are_told_apart_and_remember_their_prompt(tmp_path):
    import json

    from agents.llm import is_model_folder
    from training.lora import META_FILE, adapter_prompt

    model, adapter = tmp_path / "model", tmp_path / "adapter"
    model.mkdir()
    adapter.mkdir()
    (model / "config.json").write_text("{}")
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "config.json").write_text("{}")  # some tools write both; the adapter config decides
    assert is_model_folder(str(model)) and not is_model_folder(str(adapter)) and not is_model_folder(None)
    (model / META_FILE).write_text(json.dumps({"hyperparameters": {"prompt": "compact"}}))
    assert adapter_prompt(str(model)) == "compact"
    assert adapter_prompt(str(adapter)) is None and adapter_prompt("smollm2") is None and adapter_prompt(None) is None
