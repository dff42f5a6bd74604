"""LoRA adapters on vLLM: in process (`LoRARequest`, hot-swapped per request) and on a `vllm serve` server.

In process (GPU, `pip install -e '.[vllm]'`): `VLLMLLM` implements the `LLM` protocol; `with_adapter(path)` returns a
view whose requests carry a `LoRARequest(name, int_id, path)`, so one engine serves the base model and any number of
adapters, batched together. Imports of vllm happen only when an engine is built.

On a server, through litellm:

    vllm serve ~/.cache/kintsugi/models/smollm2-135m-instruct --served-model-name smollm2 \\
        --enable-lora --max-lora-rank 16 --max-loras 4 \\
        --lora-modules fact=/path/to/adapter          # adapters known at start-up (name=path)

`--max-lora-rank` must be at least the adapter's `r` (adapter_config.json); `--max-loras` is how many adapters can
be in one batch; `--max-cpu-loras` how many stay cached. Adapters trained later are loaded without a restart when
the server runs with `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`:

    curl -X POST http://127.0.0.1:8000/v1/load_lora_adapter -H 'Content-Type: application/json' \\
        -d '{"lora_name": "fact", "lora_path": "/path/to/adapter"}'
    curl -X POST http://127.0.0.1:8000/v1/unload_lora_adapter -H 'Content-Type: application/json' \\
        -d '{"lora_name": "fact"}'

(`load_adapter_on_server` / `unload_adapter_on_server` below do the same). Clients then ask for the adapter as the
model: `make_llm("litellm", "hosted_vllm/fact", api_base="http://127.0.0.1:8000/v1")`, or
`make_llm("litellm", "hosted_vllm/smollm2", api_base=...).with_adapter("fact")`. The path must be readable by the
server's machine.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm.base import BaseLLM
from agents.types import CandidateScore, Completion, Messages


@dataclass(frozen=True)
class VLLMConfig:
    """How the in-process vLLM engine is built."""

    model: str = "smollm2"
    """`smollm2` (the embedded model's safetensors copy) or a local model folder."""
    max_lora_rank: int = 16
    """Largest adapter rank the engine accepts (at least the adapters' `r`)."""
    max_loras: int = 4
    """Adapters usable in one batch."""
    max_model_len: int = 4096
    """Context the engine reserves KV cache for."""
    gpu_memory_utilization: float = 0.5
    """Share of GPU memory vLLM may take (leave room for a transformers model doing TT-SI on the same GPU)."""
    enforce_eager: bool = False
    """Skip CUDA graph capture (faster start, slower decoding)."""
    seed: int = 0
    """Engine seed."""


class _VLLMEngine:
    """One vLLM engine shared by every adapter view; adapters get stable integer ids."""

    def __init__(self, config: VLLMConfig) -> None:
        try:
            from vllm import LLM as VLLMEngine
        except ImportError as exc:
            raise RuntimeError("the vllm backend needs vllm and a CUDA GPU: pip install -e '.[vllm]'") from exc
        from agents.llm.embedded import resolve_model

        self.path = resolve_model(config.model)
        self.llm = VLLMEngine(
            model=self.path,
            enable_lora=True,
            max_lora_rank=config.max_lora_rank,
            max_loras=config.max_loras,
            max_model_len=config.max_model_len,
            gpu_memory_utilization=config.gpu_memory_utilization,
            enforce_eager=config.enforce_eager,
            seed=config.seed,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.lora_ids: dict[str, int] = {}
        self.lock = threading.Lock()

    def lora_request(self, path: str) -> Any:
        from vllm.lora.request import LoRARequest

        resolved = str(Path(path).resolve())
        if not (Path(resolved) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{path} is not a PEFT adapter folder (no adapter_config.json)")
        with self.lock:
            lora_id = self.lora_ids.setdefault(resolved, len(self.lora_ids) + 1)
        return LoRARequest(f"adapter-{lora_id}", lora_id, resolved)


class VLLMLLM(BaseLLM):
    """The `LLM` protocol over an in-process vLLM engine (GPU); adapters are hot-swapped per request."""

    def __init__(
        self, config: VLLMConfig | None = None, *, adapter: str | None = None, _engine: _VLLMEngine | None = None
    ) -> None:
        self.config = config or VLLMConfig()
        self._engine = _engine or _VLLMEngine(self.config)
        self.model_id = self.config.model
        self.adapter = adapter
        self._lora = self._engine.lora_request(adapter) if adapter else None

    def with_adapter(self, path: str | None) -> VLLMLLM:
        return VLLMLLM(self.config, adapter=path, _engine=self._engine)

    def _render(self, messages: Messages) -> list[int]:
        """Prompt token ids; a final assistant message is a reply already begun, left open to continue."""
        tok = self._engine.tokenizer
        begun = ""
        if messages and messages[-1]["role"] == "assistant":
            messages, begun = messages[:-1], messages[-1]["content"]
        text = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False) + begun
        return tok(text, add_special_tokens=False)["input_ids"]

    def generate_batch(
        self,
        conversations: Sequence[Messages],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n, temperature=temperature, max_tokens=max_tokens, stop=list(stop or []) or None, seed=seed, logprobs=0
        )
        prompts = [{"prompt_token_ids": self._render(m)} for m in conversations]
        outputs = self._engine.llm.generate(prompts, params, lora_request=self._lora, use_tqdm=False)
        results = []
        for out in outputs:
            group = []
            for choice in out.outputs:
                lps = tuple(
                    float(step[token].logprob)
                    for step, token in zip(choice.logprobs or [], choice.token_ids, strict=False)
                )
                group.append(
                    Completion(
                        text=choice.text,
                        token_logprobs=lps,
                        finish_reason="length" if choice.finish_reason == "length" else "stop",
                        prompt_tokens=len(out.prompt_token_ids or []),
                    )
                )
            results.append(group)
        return results

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        """NLL of each candidate from vLLM's prompt log-probabilities (one 1-token generation per candidate)."""
        from vllm import SamplingParams

        tok = self._engine.tokenizer
        prompt_ids = self._render(messages)
        cand_ids = [tok(c, add_special_tokens=False)["input_ids"] for c in candidates]
        prompts = [{"prompt_token_ids": prompt_ids + ids} for ids in cand_ids]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self._engine.llm.generate(prompts, params, lora_request=self._lora, use_tqdm=False)
        scores = []
        for out, ids in zip(outputs, cand_ids, strict=True):
            per_token = out.prompt_logprobs[len(prompt_ids) :]
            nll = -sum(float(step[token].logprob) for step, token in zip(per_token, ids, strict=True))
            scores.append(CandidateScore(nll=nll, num_tokens=len(ids)))
        return scores


def _post(api_base: str, endpoint: str, payload: dict[str, str], api_key: str | None) -> str:
    root = api_base.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        f"{root}/v1/{endpoint}", data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        hint = ""
        if exc.code == 404:
            hint = "; start the server with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora"
        raise RuntimeError(f"{endpoint} failed with HTTP {exc.code}: {detail}{hint}") from None


def load_adapter_on_server(api_base: str, name: str, path: str | Path, *, api_key: str | None = None) -> str:
    """POST /v1/load_lora_adapter: `vllm serve` loads the adapter at `path` (on its machine) as model `name`."""
    return _post(api_base, "load_lora_adapter", {"lora_name": name, "lora_path": str(path)}, api_key)


def unload_adapter_on_server(api_base: str, name: str, *, api_key: str | None = None) -> str:
    """POST /v1/unload_lora_adapter: the server forgets adapter `name`."""
    return _post(api_base, "unload_lora_adapter", {"lora_name": name}, api_key)
