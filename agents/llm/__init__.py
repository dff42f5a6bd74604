"""LLM backends behind one interface (`agents.types.LLM`); heavy libraries load only when a backend is made."""

from __future__ import annotations

from typing import Any

from agents.types import LLM

BACKENDS = ("transformers", "litellm", "vllm")


def make_llm(
    backend: str = "transformers", model: str = "smollm2", *, adapter: str | None = None, **options: Any
) -> LLM:
    """Build a backend by name: `transformers` (embedded default), `litellm` (any provider or server) or `vllm`
    (in process, GPU only, `pip install 'kintsugi[vllm]'`)."""
    if backend == "transformers":
        from agents.llm.transformers_backend import TransformersConfig, TransformersLLM

        return TransformersLLM(TransformersConfig(model=model, **options), adapter=adapter)
    if backend == "litellm":
        from agents.llm.litellm_backend import LiteLLM, LiteLLMConfig

        if adapter:
            options.setdefault("model", adapter)
        return LiteLLM(LiteLLMConfig(**{"model": model, **options}))
    if backend == "vllm":
        from agents.llm.vllm_backend import VLLMLLM, VLLMConfig

        return VLLMLLM(VLLMConfig(model=model, **options), adapter=adapter)
    raise ValueError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "make_llm"]
