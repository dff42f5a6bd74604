"""An LLM's recipe builds an equal LLM in another process (what Ray workers do): backend, model, adapter and a
client's server survive the round trip through `make_llm`. (The transformers backend's round trip, with an adapter,
runs on a real cluster in `tests/test_ray_runner.py`.)"""

from __future__ import annotations

import pytest

from agents.llm import make_llm
from agents.llm.base import LLMRecipe


def _rebuilt(recipe: LLMRecipe):
    options = {"api_base": recipe.api_base} if recipe.api_base else {}
    return make_llm(recipe.backend, recipe.model, adapter=recipe.adapter, **options)


def test_a_litellm_client_keeps_its_server_and_served_adapter_name():
    client = make_llm("litellm", "openai/smollm2", api_base="http://127.0.0.1:9/v1").with_adapter("warm")
    recipe = client.recipe()
    assert recipe == LLMRecipe("litellm", "warm", None, "http://127.0.0.1:9/v1")
    assert _rebuilt(recipe).recipe() == recipe


def test_a_served_vllm_model_keeps_its_model_and_adapter(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    served = make_llm("vllm", "smollm2").with_adapter(str(tmp_path))  # no server starts before the first request
    recipe = served.recipe()
    assert recipe == LLMRecipe("vllm", "smollm2", str(tmp_path))
    assert _rebuilt(recipe).recipe() == recipe


def test_a_vllm_backend_on_a_given_server_says_how_to_share_it_instead():
    with pytest.raises(ValueError, match="--backend litellm --api-base"):
        make_llm("vllm", "smollm2", api_base="http://127.0.0.1:9/v1", adapters="lora").recipe()
