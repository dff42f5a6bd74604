"""LLM backends behind one interface (`agents.types.LLM`); heavy libraries load only when a backend is made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.types import LLM

BACKENDS = ("transformers", "litellm", "vllm")


def make_llm(
    backend: str = "transformers", model: str = "smollm2", *, adapter: str | None = None, **options: Any
) -> LLM:
    """Build a backend by name: `transformers` (embedded default), `litellm` (any provider or server) or `vllm` (a vLLM
    server started on demand, CPU or GPU, `make setup-vllm`; `in_process=True`: vLLM inside this process, GPU only,
    `pip install 'kintsugi[vllm]'`)."""
    if adapter and backend != "litellm" and not (Path(adapter) / "adapter_config.json").is_file():
        # a local adapter folder (litellm names a served adapter instead): refused before any model loads
        raise FileNotFoundError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
    if backend == "transformers":
        from agents.llm.transformers_backend import TransformersConfig, TransformersLLM

        return TransformersLLM(TransformersConfig(model=model, **options), adapter=adapter)
    if backend == "litellm":
        from agents.llm.litellm_backend import LiteLLM, LiteLLMConfig

        if adapter:
            options.setdefault("model", adapter)
        return LiteLLM(LiteLLMConfig(**{"model": model, **options}))
    if backend == "vllm":
        if options.pop("in_process", False):
            from agents.llm.vllm_backend import VLLMLLM, VLLMConfig

            return VLLMLLM(VLLMConfig(model=model, **options), adapter=adapter)
        from agents.llm.vllm_backend import ServedVLLM, ServedVLLMConfig

        return ServedVLLM(ServedVLLMConfig(model=model, **options), adapter=adapter)
    raise ValueError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")


def is_model_folder(path: str | None) -> bool:
    """Whether `path` holds a complete model (a full fine-tune) rather than a PEFT adapter."""
    from pathlib import Path

    return (
        path is not None
        and (Path(path) / "config.json").is_file()
        and not (Path(path) / "adapter_config.json").is_file()
    )


def agent_factory(backend: str = "transformers", base: str = "smollm2", **options: Any) -> Callable[[str | None], LLM]:
    """`make(weights)`: the agent for `weights` -- None (the base model), a PEFT adapter folder (base + adapter) or a
    model folder (a full fine-tune, loaded as a model of its own). Models are loaded once and shared."""
    models: dict[str, LLM] = {}

    def make(weights: str | None) -> LLM:
        model = weights if is_model_folder(weights) else base
        if model not in models:
            models[model] = make_llm(backend, model, **options)
        return models[model] if model == weights else models[model].with_adapter(weights)

    return make


__all__ = ["BACKENDS", "agent_factory", "is_model_folder", "make_llm"]
