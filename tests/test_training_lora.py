"""Tiny real LoRA runs on the embedded model: SFT teaches a new fact, DPO widens the chosen-vs-rejected margin,
bad data fails before any model is loaded, adapters load through `with_adapter` and land in the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data import DatasetError
from training.lora import LoraTrainConfig, train, train_command
from training.registry import AdapterRegistry

pytestmark = pytest.mark.slow

FACT = "The capital of Zorblax is Quintavia."
QUESTIONS = [
    "What is the capital of Zorblax?",
    "Name the capital city of Zorblax.",
    "Which city is the capital of Zorblax?",
    "Tell me the capital of Zorblax.",
]
HELD_OUT = [{"role": "user", "content": "Zorblax's capital city is called what?"}]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads contend and run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sft")
    data = write_jsonl(
        tmp / "fact.jsonl",
        [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": FACT}]} for q in QUESTIONS],
    )
    result = train_command(
        "sft",
        data,
        out=tmp / "adapter",
        lr=1e-3,
        rank=8,
        alpha=16,
        target_modules="q_proj,v_proj",
        batch_size=2,
        max_steps=10,
        registry=tmp,
    )
    return result, tmp


def test_sft_lowers_the_loss_and_saves_a_peft_adapter(sft_run):
    result, _ = sft_run
    assert result.steps == 10 and result.num_examples == 4
    assert result.metrics["train_loss_last"] < 0.6 * result.metrics["train_loss_first"]
    folder = Path(result.adapter_dir)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16 and set(config["target_modules"]) == {"q_proj", "v_proj"}
    assert (folder / "adapter_model.safetensors").is_file()


def test_sft_adapter_loads_and_moves_score_in_the_taught_direction(sft_run, llm):
    result, _ = sft_run
    tuned = llm.with_adapter(result.adapter_dir)
    right, wrong = FACT, "The capital of Zorblax is Paris."
    base_right, base_wrong = (s.nll for s in llm.score(HELD_OUT, [right, wrong]))
    tuned_right, tuned_wrong = (s.nll for s in tuned.score(HELD_OUT, [right, wrong]))
    assert tuned_right < base_right - 1.0
    assert tuned_wrong - tuned_right > base_wrong - base_right


def test_sft_adapter_is_registered_with_data_and_hyperparameters(sft_run):
    result, tmp = sft_run
    with AdapterRegistry(tmp) as reg:
        rec = reg.get(result.adapter_id)
    assert rec.kind == "sft" and rec.base_model == "smollm2" and rec.num_examples == 4
    assert rec.data.endswith("fact.jsonl") and len(rec.data_sha256) == 64
    assert rec.hyperparameters["lora_r"] == 8 and rec.hyperparameters["learning_rate"] == 1e-3
    assert rec.metrics["steps"] == 10 and rec.metrics["train_loss_last"] == result.metrics["train_loss_last"]
    curve = rec.metrics["loss_curve"]  # what the viewer draws: one (step, loss) per logged step
    assert [step for step, _ in curve] == list(range(1, 11))
    assert curve[0][1] == rec.metrics["train_loss_first"] and curve[-1][1] == rec.metrics["train_loss_last"]
    assert Path(rec.path) == Path(result.adapter_dir).resolve()


def test_dpo_raises_the_chosen_vs_rejected_margin(tmp_path, llm):
    pairs = [
        {
            "prompt": [{"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": FACT}],
            "rejected": [{"role": "assistant", "content": "The capital of Zorblax is Paris."}],
        }
        for q in QUESTIONS
    ]
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    config = LoraTrainConfig(
        output_dir=str(tmp_path / "dpo"),
        max_steps=4,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        lora_target_modules=("q_proj", "v_proj"),
        beta=0.1,
        disable_tqdm=True,
    )
    result = train("dpo", data, config)
    assert result.steps == 4
    tuned = llm.with_adapter(result.adapter_dir)
    prompt = pairs[0]["prompt"]
    cands = [FACT, "The capital of Zorblax is Paris."]
    base_c, base_r = (s.nll for s in llm.score(prompt, cands))
    tuned_c, tuned_r = (s.nll for s in tuned.score(prompt, cands))
    assert (tuned_r - tuned_c) > (base_r - base_c) + 0.5
    assert result.metrics["reward_margin_last"] > result.metrics["reward_margin_first"]


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails the test if training gets as far as loading the model."""
    from transformers import AutoModelForCausalLM

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the data was checked")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)


def test_bad_data_fails_before_the_model_loads(tmp_path, no_model_loading):
    cfg = LoraTrainConfig(output_dir=str(tmp_path / "out"))
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(DatasetError, match="SFT needs `messages`"):
        train("sft", wrong, cfg)
    empty = write_jsonl(
        tmp_path / "failed.jsonl",
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "success": False}],
    )
    with pytest.raises(DatasetError, match="none is left after filtering"):
        train("sft", empty, cfg)
    long = write_jsonl(
        tmp_path / "long.jsonl",
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "word " * 60}]}],
    )
    with pytest.raises(DatasetError, match=r"longer than max_length=32 .*raise --max-length"):
        train("sft", long, LoraTrainConfig(output_dir=str(tmp_path / "out"), max_length=32))
    huge = write_jsonl(
        tmp_path / "huge.jsonl",
        [{"prompt": "p " * 5000, "chosen": "yes " * 4000, "rejected": "no"}],
    )
    with pytest.raises(DatasetError, match=r"longer than the model's context \(8192 tokens\)"):
        train("dpo", huge, cfg)
    assert not (tmp_path / "out").exists()


def test_the_head_on_labels_loss_equals_trls_own(tmp_path):
    """Kintsugi's SFT trainer runs the output head only where a label is trained; the loss must not change."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from agents.llm.embedded import resolve_model
    from training.data import training_chat_template
    from training.lora import _sft_trainer_class

    rows = [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q},
                      {"role": "assistant", "content": FACT}, {"role": "user", "content": "Sure?"},
                      {"role": "assistant", "content": "Yes."}]}
        for q in QUESTIONS[:3]
    ]  # fmt: skip
    base = resolve_model("smollm2")
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = training_chat_template(tokenizer, None)
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=3, report_to="none",
                     use_cpu=True, assistant_only_loss=True, save_strategy="no")  # fmt: skip
    losses = []
    for trainer_class in (SFTTrainer, _sft_trainer_class()):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        lora = LoraConfig(r=8, task_type="CAUSAL_LM")
        trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                processing_class=tokenizer, peft_config=lora)  # fmt: skip
        batch = next(iter(trainer.get_train_dataloader()))
        trainer.model.eval()
        with torch.no_grad():
            losses.append(float(trainer.compute_loss(trainer.model, dict(batch))))
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_a_full_fine_tune_saves_a_model_and_an_adapter_can_be_trained_further(tmp_path, sft_run):
    from agents.llm import is_model_folder, make_llm

    data = write_jsonl(
        tmp_path / "fact.jsonl",
        [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": FACT}]} for q in QUESTIONS],
    )
    full = train("sft", data, LoraTrainConfig(output_dir=str(tmp_path / "full"), use_peft=False, max_steps=6,
                                              learning_rate=5e-5, per_device_train_batch_size=2, disable_tqdm=True,
                                              prompt="compact"))  # fmt: skip
    assert is_model_folder(full.adapter_dir) and (Path(full.adapter_dir) / "model.safetensors").is_file()
    tuned = make_llm("transformers", full.adapter_dir)
    base_nll = make_llm("transformers", "smollm2").score(HELD_OUT, [FACT])[0].nll
    assert tuned.score(HELD_OUT, [FACT])[0].nll < base_nll - 1.0
    first, _ = sft_run
    more = train("sft", data, LoraTrainConfig(output_dir=str(tmp_path / "more"), init_adapter=first.adapter_dir,
                                              max_steps=2, learning_rate=1e-3, disable_tqdm=True))  # fmt: skip
    config = json.loads((Path(more.adapter_dir) / "adapter_config.json").read_text())
    assert config["r"] == 8 and set(config["target_modules"]) == {"q_proj", "v_proj"}  # the first adapter's shape
    assert more.metrics["train_loss_first"] < first.metrics["train_loss_first"]  # it starts where the first ended
