"""LLM backends behind one interface (`agents.types.LLM`); heavy libraries load only when a backend is made."""

from __future__ import annotations

from typing import Any

from agents.types import LLM

BACKENDS = ("transformers", "litellm")


def make_llm(
    backend: str = "transformers", model: str = "smollm2", *, adapter: str | None = None, **options: Any
) -> LLM:
    """Build a backend by name: `transformers` (embedded default) or `litellm` (any provider or server)."""
    if backend == "transformers":
        from agents.llm.transformers_backend import TransformersConfig, TransformersLLM

        return TransformersLLM(TransformersConfig(model=model, **options), adapter=adapter)
    if backend == "litellm":
        from agents.llm.litellm_backend import LiteLLM, LiteLLMConfig

        if adapter:
            options.setdefault("model", adapter)
        return LiteLLM(LiteLLMConfig(**{"model": model, **options}))
    raise ValueError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "make_llm"]
