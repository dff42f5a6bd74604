"""The embedded default backend: a Hugging Face transformers causal LM on CPU (or GPU), LoRA-capable."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm.base import BaseLLM, ContextLengthExceeded, LLMRecipe, cut_at_stop
from agents.llm.embedded import CONVERTED_NAME, EMBEDDED_ALIASES, resolve_model
from agents.tool_calls import plain_messages, supports_tools, with_tool_calls
from agents.types import CandidateScore, Completion, Messages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransformersConfig:
    """How the transformers backend loads and runs its model."""

    model: str = "smollm2"
    """`smollm2` (the embedded SmolLM2-135M-Instruct) or a path to a saved transformers model."""
    device: str = "auto"
    """`cpu`, `cuda`, or `auto` (cuda when available)."""
    max_batch_sequences: int = 16
    """Most sequences generated in one forward batch; larger requests are split."""
    num_threads: int | None = None
    """torch CPU threads (None: torch's default)."""
    prefix_cache_min_tokens: int = 64
    """A batch whose prompts share at least this many leading tokens encodes them once (0 disables)."""


def _common_prefix_length(rows: list[list[int]]) -> int:
    """How many leading tokens every row shares."""
    first = rows[0]
    length = min(len(r) for r in rows)
    for k in range(length):
        if any(r[k] != first[k] for r in rows):
            return k
    return length


class _Engine:
    """The loaded model and tokenizer, shared by every adapter view of the same base model."""

    def __init__(self, config: TransformersConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        path = resolve_model(config.model)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model: Any = AutoModelForCausalLM.from_pretrained(path).to(self.device)
        self.model.eval()
        self.adapters: dict[str, str] = {}
        self.lock = threading.RLock()
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 2048))

    def adapter_name(self, path: str) -> str:
        """Load the adapter at `path` once; returns its name inside the PEFT model."""
        resolved = str(Path(path).resolve())
        if resolved in self.adapters:
            return self.adapters[resolved]
        if not (Path(resolved) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{path} is not a PEFT adapter folder (no adapter_config.json)")
        from peft import PeftModel

        name = "a" + hashlib.sha1(resolved.encode()).hexdigest()[:12]
        with self.lock:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(resolved, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, resolved, adapter_name=name)
            self.model.eval()
        self.adapters[resolved] = name
        return name

    def activate(self, adapter_name: str | None) -> Any:
        """A context in which the model runs with `adapter_name` (None: the bare base model)."""
        from peft import PeftModel

        if not isinstance(self.model, PeftModel):
            if adapter_name is not None:
                raise RuntimeError("adapter requested but none is loaded")
            return nullcontext()
        if adapter_name is None:
            return self.model.disable_adapter()
        self.model.set_adapter(adapter_name)
        return nullcontext()


class TransformersLLM(BaseLLM):
    """SmolLM2 (or any local causal LM) through transformers, with batched sampling and exact scoring."""

    def __init__(
        self,
        config: TransformersConfig | None = None,
        *,
        adapter: str | None = None,
        _engine: _Engine | None = None,
    ) -> None:
        self.config = config or TransformersConfig()
        self._engine = _engine or _Engine(self.config)
        self.model_id = CONVERTED_NAME if self.config.model in EMBEDDED_ALIASES else self.config.model
        self.adapter = adapter
        self._adapter_name = self._engine.adapter_name(adapter) if adapter else None

    @property
    def tokenizer(self) -> Any:
        return self._engine.tokenizer

    @property
    def model(self) -> Any:
        """The underlying torch module (a PeftModel once an adapter was loaded)."""
        return self._engine.model

    def with_adapter(self, path: str | None) -> TransformersLLM:
        return TransformersLLM(self.config, adapter=path, _engine=self._engine)

    def recipe(self) -> LLMRecipe:
        return LLMRecipe("transformers", self.config.model, self.adapter)

    def render(
        self, messages: Messages, *, add_generation_prompt: bool = True, tools: Sequence[dict[str, Any]] | None = None
    ) -> str:
        """The chat-formatted prompt text for `messages`, with `tools` offered (natively where the model's chat
        template renders tools, else in `agents.tool_calls`' text form).

        A final assistant message is a reply already begun: the text ends with it, open, for the model to continue.
        """
        if messages and messages[-1]["role"] == "assistant" and add_generation_prompt:
            return self.render(messages[:-1], tools=tools) + messages[-1]["content"]
        has_tool_turns = any(m.get("tool_calls") or m["role"] == "tool" for m in messages)
        if (tools or has_tool_turns) and supports_tools(self.tokenizer.chat_template):
            return self.tokenizer.apply_chat_template(
                list(messages), tools=list(tools or []) or None, add_generation_prompt=add_generation_prompt,
                tokenize=False,
            )  # fmt: skip
        plain = plain_messages(messages, tools) if tools or has_tool_turns else list(messages)
        return self.tokenizer.apply_chat_template(plain, add_generation_prompt=add_generation_prompt, tokenize=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

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
        results = self.generate_batch_from_text(
            [self.render(m, tools=t) for m, t in zip(conversations, offered, strict=True)],
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
        )
        return [[with_tool_calls(c) for c in group] if t else group for group, t in zip(results, offered, strict=True)]

    def generate_batch_from_text(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Continue already-rendered prompt texts (e.g. a partial assistant message)."""
        import torch

        if n < 1:
            raise ValueError("n must be at least 1")
        per_chunk = max(1, self.config.max_batch_sequences // n)
        results: list[list[Completion]] = []
        if seed is not None:
            torch.manual_seed(seed)
        for start in range(0, len(prompts), per_chunk):
            chunk = list(prompts[start : start + per_chunk])
            results.extend(self._generate_chunk(chunk, n, temperature, max_tokens, list(stop or [])))
        return results

    def _generate_chunk(
        self, prompts: list[str], n: int, temperature: float, max_tokens: int, stop: list[str]
    ) -> list[list[Completion]]:
        import torch

        eng = self._engine
        tok = eng.tokenizer
        ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        rows = [x for x in ids for _ in range(n)]  # each prompt n times, in order
        longest = max(len(r) for r in rows)
        if longest + max_tokens > eng.context_length:
            raise ContextLengthExceeded(
                f"prompt of {longest} tokens plus max_tokens={max_tokens} exceeds the model's "
                f"context of {eng.context_length} tokens; shorten the conversation or max_tokens"
            )
        shared = _common_prefix_length(rows) if len(rows) > 1 else 0
        shared = min(shared, min(len(r) for r in rows) - 1)  # every row keeps at least one token to feed
        pad = tok.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "do_sample": temperature > 0,
            "return_dict_in_generate": True,
            "output_logits": True,
            "pad_token_id": pad,
            "eos_token_id": tok.eos_token_id,
        }
        if temperature > 0:
            kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
        else:
            kwargs.update(temperature=None, top_k=None, top_p=None)
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tok)
        with eng.lock, eng.activate(self._adapter_name), torch.inference_mode():
            if self.config.prefix_cache_min_tokens and shared >= self.config.prefix_cache_min_tokens:
                # The shared prefix (system prompt, few-shot turns, the task) is encoded once and its KV cache
                # repeated over the batch; rows are padded between prefix and suffix, which the mask hides.
                prefix_out = eng.model(input_ids=torch.tensor([rows[0][:shared]], device=eng.device), use_cache=True)
                cache = prefix_out.past_key_values
                cache.batch_repeat_interleave(len(rows))
                width = max(len(r) for r in rows) - shared
                input_ids = [r[:shared] + [pad] * (width - len(r) + shared) + r[shared:] for r in rows]
                mask = [[1] * shared + [0] * (width - len(r) + shared) + [1] * (len(r) - shared) for r in rows]
                kwargs["cache"] = cache
            else:
                input_ids = [[pad] * (longest - len(r)) + r for r in rows]
                mask = [[0] * (longest - len(r)) + [1] * len(r) for r in rows]
            input_tensor = torch.tensor(input_ids, device=eng.device)
            out = eng.model.generate(
                input_ids=input_tensor, attention_mask=torch.tensor(mask, device=eng.device), **kwargs
            )
        prompt_len = input_tensor.shape[1]
        new_tokens = out.sequences[:, prompt_len:]
        logits = torch.stack(out.logits, dim=1).float()  # [rows, steps, vocab]
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        grouped: list[list[Completion]] = []
        for i in range(len(prompts)):
            grouped.append(
                [
                    self._completion(
                        new_tokens[i * n + j].tolist(), logprobs[i * n + j].tolist(), stop, len(ids[i]), max_tokens
                    )
                    for j in range(n)
                ]
            )
        return grouped

    def _completion(
        self, ids: list[int], lps: list[float], stop: list[str], prompt_tokens: int, max_tokens: int
    ) -> Completion:
        tok = self._engine.tokenizer
        eos = tok.eos_token_id
        keep = len(ids)
        finish = "length"
        if eos in ids:
            keep = ids.index(eos) + 1
            finish = "stop"
        text = tok.decode(ids[: keep - (finish == "stop")], skip_special_tokens=True)
        cut = cut_at_stop(text, stop)
        if cut is not None:
            text = cut
            finish = "stop"
            # keep the logprobs of the tokens up to (and including) the one that completed the stop
            for k in range(1, keep + 1):
                if cut_at_stop(tok.decode(ids[:k], skip_special_tokens=True), stop) is not None:
                    keep = k
                    break
        if finish == "length" and keep < max_tokens:
            finish = "stop"
        return Completion(
            text=text,
            token_logprobs=tuple(lps[:keep]),
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            tokens=tuple(tok.decode([i]) for i in ids[:keep]),
        )

    def token_logprobs(self, text: str) -> list[tuple[int, str, float | None]]:
        """(token id, token text, log-probability given everything before it) for each token of `text`."""
        import torch

        eng = self._engine
        ids = eng.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > eng.context_length:
            raise ValueError(f"text of {len(ids)} tokens is over the model's context of {eng.context_length}")
        with eng.lock, eng.activate(self._adapter_name), torch.inference_mode():
            logits = eng.model(input_ids=torch.tensor([ids], device=eng.device)).logits.float()
        logp = torch.log_softmax(logits[0, :-1], dim=-1).gather(-1, torch.tensor(ids[1:], device=eng.device)[:, None])
        values: list[float | None] = [None, *logp.squeeze(-1).tolist()]
        return [(i, eng.tokenizer.decode([i]), v) for i, v in zip(ids, values, strict=True)]

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        import copy

        import torch

        eng = self._engine
        tok = eng.tokenizer
        prompt_ids = tok(self.render(messages), add_special_tokens=False)["input_ids"]
        cand_ids = [tok(c, add_special_tokens=False)["input_ids"] for c in candidates]
        width = len(prompt_ids) + max((len(c) for c in cand_ids), default=0)
        if width > eng.context_length:
            raise ValueError(f"conversation plus candidate is {width} tokens, over the model's context")
        # A long conversation (e.g. a household episode behind its few-shot turns) is encoded once and every
        # candidate continues from a copy of its KV cache; the last prompt token is fed with the candidates, as its
        # logits score their first token.
        shared = len(prompt_ids) - 1
        if not (self.config.prefix_cache_min_tokens and shared >= self.config.prefix_cache_min_tokens):
            shared = 0
        pad = tok.pad_token_id
        scores: list[CandidateScore] = []
        batch = max(1, self.config.max_batch_sequences)
        with eng.lock, eng.activate(self._adapter_name), torch.inference_mode():
            prefix = None
            if shared and cand_ids:
                prefix_ids = torch.tensor([prompt_ids[:shared]], device=eng.device)
                prefix = eng.model(input_ids=prefix_ids, use_cache=True).past_key_values
            for start in range(0, len(cand_ids), batch):
                chunk = cand_ids[start : start + batch]
                rows = [prompt_ids[shared:] + c for c in chunk]
                longest = max(len(r) for r in rows)
                input_ids = torch.tensor([r + [pad] * (longest - len(r)) for r in rows], device=eng.device)
                mask = torch.tensor(
                    [[1] * (shared + len(r)) + [0] * (longest - len(r)) for r in rows], device=eng.device
                )
                kwargs: dict[str, Any] = {}
                if prefix is not None:
                    cache = copy.deepcopy(prefix)
                    cache.batch_repeat_interleave(len(rows))
                    kwargs["cache"] = cache
                logits = eng.model(input_ids=input_ids, attention_mask=mask, **kwargs).logits.float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                token_lp = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
                lo = len(prompt_ids) - 1 - shared
                for row, c in enumerate(chunk):
                    nll = -float(token_lp[row, lo : lo + len(c)].sum())
                    scores.append(CandidateScore(nll=nll, num_tokens=len(c)))
        return scores
