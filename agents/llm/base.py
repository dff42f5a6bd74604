"""Shared pieces of the LLM backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.types import CandidateScore, Completion, Messages


class ContextLengthExceeded(ValueError):
    """A conversation no longer fits the model's context: the episode must end (it is not a bug of the caller)."""


def cut_at_stop(text: str, stop: Sequence[str]) -> str | None:
    """`text` cut before the earliest stop sequence, or None when none occurs."""
    hits = [i for s in stop if s and (i := text.find(s)) >= 0]
    return text[: min(hits)] if hits else None


@dataclass(frozen=True)
class LLMRecipe:
    """What builds an equal LLM in another process (a Ray worker): `make_llm(backend, model, adapter=adapter)`, with
    `api_base` for a client of a server."""

    backend: str
    """Backend name (`agents.llm.BACKENDS`)."""
    model: str
    """Model as `make_llm` takes it: `smollm2`, a model folder, or a litellm model name."""
    adapter: str | None = None
    """LoRA adapter folder (or a served adapter's name), or None."""
    api_base: str | None = None
    """Server URL of a litellm client."""

    def build(self, *, threads: int | None = None) -> Any:
        """The LLM this recipe names; `threads`: torch CPU threads of a transformers backend (a Ray worker: 1)."""
        from agents.llm import make_llm

        options: dict[str, Any] = {"api_base": self.api_base} if self.api_base else {}
        if threads and self.backend == "transformers":
            options["num_threads"] = threads
        return make_llm(self.backend, self.model, adapter=self.adapter, **options)


class BaseLLM:
    """Derives single-conversation `generate` from a backend's `generate_batch`."""

    model_id: str
    adapter: str | None = None
    concurrent: bool = False
    """Requests may be sent from many threads at once (a server batches them as they arrive)."""

    def generate(
        self,
        messages: Messages,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> list[Completion]:
        extra = {"tools": [tools]} if tools else {}
        return self.generate_batch(
            [messages], n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=seed, **extra
        )[0]

    def generate_batch(
        self,
        conversations: Sequence[Messages],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Sequence[dict[str, Any]] | None] | None = None,
    ) -> list[list[Completion]]:
        raise NotImplementedError

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        raise NotImplementedError

    def recipe(self) -> LLMRecipe:
        """How to build this LLM again elsewhere (`agents.ray_runner` workers do)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be rebuilt in another process")

    @property
    def identity(self) -> str:
        """`model` or `model+adapter`, as stored with trajectories."""
        return f"{self.model_id}+{self.adapter}" if self.adapter else self.model_id
