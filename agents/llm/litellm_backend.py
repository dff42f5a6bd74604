"""Any provider through litellm: hosted APIs, ollama, and OpenAI-compatible servers (`vllm serve`, `kintsugi serve`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from agents.llm.base import BaseLLM, ContextLengthExceeded, LLMRecipe
from agents.tool_calls import plain_messages, with_tool_calls
from agents.types import CandidateScore, Completion, Messages


@dataclass(frozen=True)
class LiteLLMConfig:
    """Where and how litellm reaches the model."""

    model: str
    """litellm model string, e.g. `openai/smollm2` (any OpenAI-compatible server) or `hosted_vllm/NAME`."""
    api_base: str | None = None
    """Server URL, e.g. http://127.0.0.1:8000/v1."""
    api_key: str | None = None
    """API key (default: the provider's usual environment variable; `EMPTY` for local servers)."""
    timeout: float = 300.0
    """Seconds per request."""
    max_concurrency: int = 8
    """Requests in flight at once for a batch."""
    logprobs: bool = True
    """Ask for per-token log-probabilities (turn off for providers that refuse them)."""
    tool_format: str = "native"
    """How tools reach the model: `native` (`tools=` in the request, calls read from the reply's `tool_calls`) or
    `text` (`agents.tool_calls`' fallback, for a served model whose chat template has no tools)."""

    def __post_init__(self) -> None:
        if self.tool_format not in TOOL_FORMATS:
            raise ValueError(f"unknown tool format {self.tool_format!r}; use one of {', '.join(TOOL_FORMATS)}")


TOOL_FORMATS = ("native", "text")


class LiteLLM(BaseLLM):
    """The LLM interface over `litellm.completion`; `score` uses vLLM's `prompt_logprobs` extension."""

    concurrent = True

    def __init__(self, config: LiteLLMConfig) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        self._litellm = litellm
        self.config = config
        self.model_id = config.model
        self.adapter = None

    def with_adapter(self, path: str | None) -> LiteLLM:
        """Servers expose adapters as model names (`vllm serve --lora-modules NAME=PATH`): pass that name."""
        from dataclasses import replace

        return LiteLLM(replace(self.config, model=path or self.config.model))

    def recipe(self) -> LLMRecipe:
        return LLMRecipe("litellm", self.config.model, None, self.config.api_base)

    def _call(self, messages: Messages, **params: Any) -> Any:
        api_key = self.config.api_key or ("EMPTY" if self.config.api_base else None)
        return self._litellm.completion(
            model=self.config.model,
            messages=list(messages),
            api_base=self.config.api_base,
            api_key=api_key,
            timeout=self.config.timeout,
            **params,
        )

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
        offered = list(tools) if tools is not None else [None] * len(conversations)
        params: dict[str, Any] = {"n": n, "temperature": temperature, "max_tokens": max_tokens}
        if stop:
            params["stop"] = list(stop)
        if self.config.logprobs:
            params["logprobs"] = True

        def one(indexed: tuple[int, Messages]) -> list[Completion]:
            i, messages = indexed
            extra: dict[str, Any] = {} if seed is None else {"seed": seed + i}  # equal prompts still differ
            specs = offered[i]
            has_tool_turns = any(m.get("tool_calls") or m["role"] == "tool" for m in messages)
            if self.config.tool_format == "text" and (specs or has_tool_turns):
                messages = plain_messages(messages, specs)  # type: ignore[assignment]
            elif specs:
                extra["tools"] = list(specs)
            if messages and messages[-1]["role"] == "assistant":  # a reply already begun: continue it
                extra["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
            try:
                response = self._call(messages, **params, **extra)
            except self._litellm.BadRequestError as exc:
                text = str(exc).lower()
                if (
                    isinstance(exc, self._litellm.ContextWindowExceededError)
                    or "context length" in text
                    or ("input_tokens" in text and "reduce the length" in text)
                ):
                    raise ContextLengthExceeded(f"{self.config.model}: the conversation exceeds the context") from exc
                raise
            prompt_tokens = getattr(response.usage, "prompt_tokens", 0) if response.usage else 0
            outs = [_completion(choice, prompt_tokens) for choice in response.choices]
            return [with_tool_calls(c) if specs and not c.tool_calls else c for c in outs]

        with ThreadPoolExecutor(max_workers=max(1, min(self.config.max_concurrency, len(conversations)))) as pool:
            return list(pool.map(one, enumerate(conversations)))

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        """NLL of each candidate from the server's prompt log-probabilities (vLLM's `prompt_logprobs`)."""
        base = self._prompt_logprobs(messages, continue_final=False)
        scores = []
        for cand in candidates:
            full = self._prompt_logprobs([*messages, {"role": "assistant", "content": cand}], continue_final=True)
            tail = [lp for lp in full[len(base) :] if lp is not None]
            scores.append(CandidateScore(nll=-sum(tail), num_tokens=len(tail)))
        return scores

    def _prompt_logprobs(self, messages: Messages, *, continue_final: bool) -> list[float | None]:
        extra = {"prompt_logprobs": 0, "add_generation_prompt": not continue_final}
        if continue_final:
            extra["continue_final_message"] = True
        response = self._call(messages, max_tokens=1, temperature=0.0, extra_body=extra)
        raw = getattr(response, "prompt_logprobs", None)
        if raw is None and hasattr(response, "model_extra"):
            raw = (response.model_extra or {}).get("prompt_logprobs")
        if raw is None:
            raise NotImplementedError(
                f"{self.config.model} returned no prompt_logprobs; scoring needs a server with vLLM's "
                "prompt_logprobs extension (vllm serve, kintsugi serve)"
            )
        values: list[float | None] = []
        for entry in raw:
            if not entry:
                values.append(None)
            else:
                values.append(float(next(iter(entry.values()))["logprob"]))
        return values


def _completion(choice: Any, prompt_tokens: int) -> Completion:
    content = choice.message.content or ""
    lps: tuple[float, ...] = ()
    toks: tuple[str, ...] = ()
    logprobs = getattr(choice, "logprobs", None)
    items = getattr(logprobs, "content", None) if logprobs is not None else None
    if items is None and isinstance(logprobs, dict):
        items = logprobs.get("content")
    if items:
        lps = tuple(float(_get(i, "logprob")) for i in items)
        toks = tuple(str(_get(i, "token")) for i in items)
    finish = choice.finish_reason or "stop"
    calls = tuple(_tool_call(c) for c in (getattr(choice.message, "tool_calls", None) or ()))
    return Completion(
        text=content,
        token_logprobs=lps,
        finish_reason="length" if finish == "length" else "stop",
        prompt_tokens=prompt_tokens,
        tokens=toks,
        tool_calls=calls,
    )


def _tool_call(call: Any) -> dict[str, Any]:
    """A provider's tool call as a plain OpenAI-format dict."""
    function = _get(call, "function")
    return {
        "id": str(_get(call, "id") or ""),
        "type": "function",
        "function": {"name": str(_get(function, "name")), "arguments": _get(function, "arguments") or "{}"},
    }


def _get(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, dict) else getattr(item, key)
