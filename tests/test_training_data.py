"""Training data: loading, schema checks, filtering, length checks (all before training), assistant-only masks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.store import Store
from agents.types import Source, Step, Trajectory
from training.data import (
    SMOLLM2_CHAT_TEMPLATE,
    SMOLLM2_TRAINING_CHAT_TEMPLATE,
    DatasetError,
    load_records,
    prepare_preference_records,
    prepare_sft_records,
    tokenize_conversation,
)

CONV = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of Zorblax?"},
        {"role": "assistant", "content": "Quintavia."},
    ]
}
PAIR = {"prompt": "The capital of Zorblax is", "chosen": " Quintavia.", "rejected": " Paris."}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def sft(path: Path, **kw: object) -> list[dict]:
    return prepare_sft_records(load_records(path, "sft"), **kw)


def test_wrong_schema_names_the_columns_and_the_fix(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello", "label": 1}])
    with pytest.raises(DatasetError, match=r"columns label, text.*`messages`.*`prompt` and `completion`"):
        sft(data)


def test_preference_data_for_sft_points_to_dpo_and_back(tmp_path):
    with pytest.raises(DatasetError, match="kintsugi train dpo"):
        sft(write_jsonl(tmp_path / "p.jsonl", [PAIR]))
    with pytest.raises(DatasetError, match="kintsugi train sft"):
        prepare_preference_records(load_records(write_jsonl(tmp_path / "s.jsonl", [CONV]), "dpo"))
    with pytest.raises(DatasetError, match="add the shared `prompt`"):
        prepare_preference_records(
            load_records(write_jsonl(tmp_path / "i.jsonl", [{"chosen": "a", "rejected": "b"}]), "dpo")
        )


def test_malformed_messages_and_lines_are_located(tmp_path):
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}
    with pytest.raises(DatasetError, match=r"example 0: `messages\[1\]` is not a message"):
        sft(write_jsonl(tmp_path / "m.jsonl", [bad]))
    no_reply = {"messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(DatasetError, match="no non-empty assistant message"):
        sft(write_jsonl(tmp_path / "n.jsonl", [no_reply]))
    broken = tmp_path / "b.jsonl"
    broken.write_text(json.dumps(CONV) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"b.jsonl:2: not valid JSON"):
        load_records(broken, "sft")


def test_mixed_formats_are_refused(tmp_path):
    data = write_jsonl(tmp_path / "x.jsonl", [CONV, {"prompt": "a", "completion": "b"}])
    with pytest.raises(DatasetError, match="one format per dataset"):
        sft(data)


def test_empty_and_empty_after_filtering(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="holds no examples"):
        sft(tmp_path / "e.jsonl")
    failed = write_jsonl(tmp_path / "f.jsonl", [{**CONV, "success": False}] * 3)
    with pytest.raises(DatasetError, match="none is left after filtering"):
        sft(failed)
    assert len(sft(failed, successful_only=False)) == 3


def test_extra_columns_are_dropped_and_formats_kept(tmp_path):
    data = write_jsonl(tmp_path / "ok.jsonl", [{**CONV, "success": True, "task_id": "t"}, CONV])
    assert sft(data) == [{"messages": CONV["messages"]}] * 2
    pc = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "2+2=", "completion": "4", "id": 1}])
    assert sft(pc) == [{"prompt": "2+2=", "completion": "4"}]
    assert prepare_preference_records(load_records(write_jsonl(tmp_path / "p.jsonl", [PAIR]), "dpo")) == [PAIR]


def test_unknown_sources_are_explained(tmp_path):
    with pytest.raises(DatasetError, match=r"expected a \.jsonl"):
        load_records(tmp_path / "data.csv", "sft")
    with pytest.raises(DatasetError, match="neither a run directory"):
        load_records(tmp_path, "sft")


def _traj(store: Store, run_id: str, task: str, success: bool, i: int) -> None:
    traj = Trajectory(
        id=f"{task}-{i}",
        run_id=run_id,
        task_id=task,
        env="code",
        system_prompt="sys",
        initial_observation=f"solve {task}",
        sample_index=i,
        source=Source.SAMPLED,
    )
    store.start_trajectory(traj)
    store.add_step(
        traj.id,
        Step(
            index=0,
            model_output="good" if success else "bad",
            action="a",
            observation="ok" if success else "no",
            reward=1.0 if success else 0.0,
            terminated=success,
            truncated=not success,
        ),
    )
    store.finish_trajectory(traj.id)


def test_store_gives_successful_conversations_and_preference_pairs(tmp_path):
    with Store(tmp_path / "kintsugi.db") as store:
        run_id = store.create_run({})
        _traj(store, run_id, "t1", True, 0)
        _traj(store, run_id, "t1", False, 1)
        _traj(store, run_id, "t2", False, 0)
    records = sft(tmp_path)  # the run directory
    assert len(records) == 1 and records[0]["messages"][-1] == {"role": "assistant", "content": "good"}
    pairs = prepare_preference_records(load_records(tmp_path / "kintsugi.db", "dpo", run_id=run_id))
    assert pairs == [
        {
            "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": "solve t1"}],
            "chosen": [{"role": "assistant", "content": "good"}],
            "rejected": [{"role": "assistant", "content": "bad"}],
        }
    ]
    with pytest.raises(DatasetError, match="no run"):
        load_records(tmp_path, "sft", run_id="run-nope")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from agents.llm.embedded import converted_model_dir

    return AutoTokenizer.from_pretrained(converted_model_dir())


@pytest.mark.slow
def test_training_template_renders_exactly_like_smollm2s(tokenizer):
    assert tokenizer.chat_template == SMOLLM2_CHAT_TEMPLATE
    convs = [CONV["messages"], [*CONV["messages"][1:], {"role": "user", "content": "And?"}]]
    for conv in convs:
        for gen in (False, True):
            plain = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
            marked = tokenizer.apply_chat_template(
                conv, tokenize=False, add_generation_prompt=gen, chat_template=SMOLLM2_TRAINING_CHAT_TEMPLATE
            )
            assert plain == marked


@pytest.mark.slow
def test_assistant_only_labels(tokenizer):
    conv = [*CONV["messages"], {"role": "user", "content": "Again?"}, {"role": "assistant", "content": "Yes."}]
    enc = tokenize_conversation(tokenizer, conv, SMOLLM2_TRAINING_CHAT_TEMPLATE)
    learned = [t for t in enc["labels"] if t != -100]
    assert tokenizer.decode(learned) == "Quintavia.<|im_end|>Yes.<|im_end|>"
    prompt_len = len(
        tokenizer.apply_chat_template(
            CONV["messages"][:2], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
    )
    assert all(t == -100 for t in enc["labels"][:prompt_len])


@pytest.mark.slow
def test_trl_sft_pipeline_masks_prompt_tokens(tokenizer, tmp_path):
    """TRL's own dataset preparation, given our training template, puts -100 on every non-assistant token."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from agents.llm.embedded import converted_model_dir

    tok = type(tokenizer).from_pretrained(converted_model_dir())
    tok.chat_template = SMOLLM2_TRAINING_CHAT_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(converted_model_dir(), dtype=torch.float32)
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(output_dir=str(tmp_path), assistant_only_loss=True, report_to="none", use_cpu=True, max_steps=1),
        train_dataset=Dataset.from_list([CONV]),
        processing_class=tok,
        peft_config=LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"),
    )
    row = trainer.train_dataset[0]
    ours = tokenize_conversation(tokenizer, CONV["messages"], SMOLLM2_TRAINING_CHAT_TEMPLATE)
    assert row["input_ids"] == ours["input_ids"] and row["labels"] == ours["labels"]
    assert tokenizer.decode([t for t in row["labels"] if t != -100]) == "Quintavia.<|im_end|>"
