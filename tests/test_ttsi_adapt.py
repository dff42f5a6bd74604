"""TT-SI's temporary LoRA on the real embedded model: it changes the answers inside the block and leaves the base
weights, and every other adapter view of the shared engine, bitwise as they were."""

from __future__ import annotations

import pytest

from training.ttsi import TTSIConfig, adapted, temporary_lora

pytestmark = pytest.mark.slow

EXAMPLE = [
    {"role": "user", "content": "What is the capital of Zorblax?"},
    {"role": "assistant", "content": "Quintavia."},
]
IDS = [1, 4093, 198, 1780, 314, 260, 3575, 282, 1073, 2]


def logits(llm):
    import torch

    engine = llm._engine
    with engine.lock, engine.activate(llm._adapter_name), torch.inference_mode():
        return engine.model(input_ids=torch.tensor([IDS], device=engine.device)).logits.clone()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads contend and run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def other_adapter(tmp_path_factory):
    """A saved LoRA adapter with non-zero weights (so its view differs from the base)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from agents.llm.embedded import converted_model_dir

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(converted_model_dir())
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM")
    )
    folder = tmp_path_factory.mktemp("other") / "adapter"
    peft_model.save_pretrained(str(folder))
    return str(folder)


def test_ttsi_restores_base_and_other_adapters_bitwise(llm, other_adapter):
    import torch

    other = llm.with_adapter(other_adapter)
    base_before, other_before = logits(llm), logits(other)
    grads_before = {n: p.requires_grad for n, p in llm.model.named_parameters()}
    modules_before = {n: type(m) for n, m in llm.model.named_modules()}
    assert not torch.equal(base_before, other_before)
    config = TTSIConfig(learning_rate=1e-2, num_train_epochs=2)
    right_before = llm.score(EXAMPLE[:1], ["Quintavia."])[0].nll
    with adapted(llm, [EXAMPLE], config) as view:
        assert view.score(EXAMPLE[:1], ["Quintavia."])[0].nll < right_before - 1.0
        assert not torch.equal(logits(view), base_before)
    assert torch.equal(logits(llm), base_before)
    assert torch.equal(logits(other), other_before)
    assert llm.score(EXAMPLE[:1], ["Quintavia."])[0].nll == right_before
    assert {n: p.requires_grad for n, p in llm.model.named_parameters()} == grads_before
    assert {n: type(m) for n, m in llm.model.named_modules()} == modules_before


def test_ttsi_restores_a_model_without_adapters_even_after_an_error():
    import torch

    from agents.llm.transformers_backend import TransformersConfig, TransformersLLM

    bare = TransformersLLM(TransformersConfig())
    model_before = bare.model
    before = logits(bare)
    with pytest.raises(RuntimeError, match="boom"), temporary_lora(bare, TTSIConfig()) as (view, peft_model):
        assert view.model is peft_model
        raise RuntimeError("boom")
    assert bare.model is model_before and type(bare.model).__name__ == "LlamaForCausalLM"
    assert torch.equal(logits(bare), before)
