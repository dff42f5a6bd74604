"""vLLM behind the `LLM` protocol: a supervised server (CPU or GPU, `ServedVLLM`) and an in-process engine (GPU).

`ServedVLLM` (`make_llm("vllm")`) starts `vllm serve` on demand (`agents.llm.vllm_server`), sends each request over
HTTP (many in flight, so the engine batches them continuously and reuses cached prefixes) and serves an adapter
either merged into the weights (`adapters="merge"`: one server per adapted model, base-model speed) or as a LoRA
loaded at run time (`adapters="lora"`: any number of adapters on one server, slower to prefill on CPU).

In process (GPU, `pip install -e '.[vllm]'`): `VLLMLLM` serves adapters with a `LoRARequest` each.

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
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agents.llm.base import BaseLLM, LLMRecipe
from agents.llm.vllm_server import VLLMServer, VLLMServerConfig, adapter_name, merged_model
from agents.tool_calls import plain_messages, supports_tools, with_tool_calls
from agents.types import CandidateScore, Completion, Messages

ADAPTER_MODES = ("merge", "lora")

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ServedVLLMConfig:
    """How `ServedVLLM` reaches (or starts) its vLLM server."""

    model: str = "smollm2"
    """`smollm2` (the embedded model) or a local model folder."""
    adapters: str = "merge"
    """How an adapter is served: `merge` (merged into the weights, its own server) or `lora` (loaded at run time)."""
    api_base: str | None = None
    """An already running vLLM server (e.g. http://127.0.0.1:8000/v1) to use instead of starting one (lora mode)."""
    max_concurrency: int = 64
    """Requests in flight at once."""
    max_servers: int = 2
    """Servers kept running at once (merge mode starts one per adapted model; the least recently used stops)."""
    server: VLLMServerConfig = field(default_factory=VLLMServerConfig)
    """How servers are started (the model and served name are set per server)."""

    def __post_init__(self) -> None:
        if self.adapters not in ADAPTER_MODES:
            raise ValueError(f"unknown adapter mode {self.adapters!r}; use one of {', '.join(ADAPTER_MODES)}")


class _ServerPool:
    """Running servers by model folder; the least recently used one stops when a new one would exceed the cap."""

    def __init__(self) -> None:
        self.servers: dict[str, VLLMServer] = {}
        self.lock = threading.Lock()

    def get(self, model: str, config: ServedVLLMConfig) -> VLLMServer:
        from dataclasses import replace

        with self.lock:
            server = self.servers.pop(model, None)
            if server is None or not server.alive():
                if server is not None:
                    server.stop()  # it died: reap what it left (workers, its log's handle)
                while len(self.servers) >= max(1, config.max_servers):
                    oldest = next(iter(self.servers))
                    self.servers.pop(oldest).stop()
                # merge mode serves every adapter merged into weights of its own: no LoRA, which on the CPU build
                # also crashes the engine when prompt log-probs (score) share a batch with generation
                lora = config.server.enable_lora and config.adapters == "lora"
                server = VLLMServer(replace(config.server, model=model, served_name="model", enable_lora=lora))
                server.start()
            self.servers[model] = server  # most recently used last
            return server

    def stop_all(self) -> None:
        with self.lock:
            for server in self.servers.values():
                server.stop()
            self.servers.clear()


SERVERS = _ServerPool()
"""The servers this process started (stopped at exit, or with `SERVERS.stop_all()`)."""


class ServedVLLM(BaseLLM):
    """The `LLM` protocol over a vLLM server that Kintsugi starts (or one given by `api_base`)."""

    concurrent = True

    def __init__(self, config: ServedVLLMConfig | None = None, *, adapter: str | None = None) -> None:
        self.config = config or ServedVLLMConfig()
        self.model_id = self.config.model
        self.adapter = adapter
        self._client: Any = None
        self._server: VLLMServer | None = None
        self._lock = threading.Lock()
        if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")

    def with_adapter(self, path: str | None) -> ServedVLLM:
        return ServedVLLM(self.config, adapter=path)

    def recipe(self) -> LLMRecipe:
        """Each worker starts a server of its own; to share one, give the workers `--backend litellm --api-base`."""
        if self.config.api_base:
            raise ValueError("a vllm backend on a given server cannot be rebuilt on Ray workers; reach the server "
                             "with --backend litellm --api-base URL instead")  # fmt: skip
        return LLMRecipe("vllm", self.config.model, self.adapter)

    def client(self) -> Any:
        """The litellm client for this view's model on its server (the server starts on first use)."""
        if self._client is not None:
            return self._client
        from agents.llm.litellm_backend import LiteLLM, LiteLLMConfig

        c = self.config
        with self._lock:
            if self._client is not None:
                return self._client
            server = None
            if c.api_base is not None:
                url, name = c.api_base, "model"
                if self.adapter:
                    raise ValueError("with api_base, serve adapters by name on that server (--lora-modules NAME=PATH)")
            elif self.adapter is None or c.adapters == "lora":
                server = SERVERS.get(c.model, c)
                url, name = server.url, "model"
                if self.adapter is not None:
                    name = adapter_name(self.adapter)
                    server.load_adapter(name, self.adapter)
            else:
                server = SERVERS.get(str(merged_model(self.adapter, c.model)), c)
                url, name = server.url, "model"
            tool_format = "native" if c.server.tool_parser else "text"
            self._server = server
            options = LiteLLMConfig(
                model=f"hosted_vllm/{name}", api_base=url, max_concurrency=c.max_concurrency, tool_format=tool_format
            )
            self._client = LiteLLM(options)
            return self._client

    def _send(self, request: Callable[[Any], T]) -> T:
        """`request(client)`, recovering once from a connection error on a server Kintsugi started for it: a server
        that died under it (a crash of the engine, the OOM killer) or stopped answering is started again, and one
        that dropped a connection but still answers /health is kept; the request is then sent once more (requests
        are idempotent: greedy or seeded), so a long run loses no work."""
        client = self.client()
        server = self._server
        try:
            return request(client)
        except Exception as exc:
            if server is None or not _connection_error(exc):
                raise
            if server.healthy():
                log.warning("the vLLM server at %s dropped a connection (%s) but still answers; sending the request "
                            "once more", server.url, exc)  # fmt: skip
                return request(client)
            server.exited(20.0)  # the API server exits shortly after its engine
            with self._lock:
                if self._client is client:
                    self._client = None
            if server.alive():
                code = "none: alive, but not answering /health"
                server.stop()
            else:
                code = server.process.returncode if server.process else "none: stopped"
            log.warning("the vLLM server at %s is gone (exit code %s); starting it again and sending the request "
                        "once more. Its log (%s) ends with:\n%s", server.url, code, server.log_path,
                        server.log_tail())  # fmt: skip
        return request(self.client())

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
        return self._send(
            lambda client: client.generate_batch(
                conversations, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=seed, tools=tools
            )
        )

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        return self._send(lambda client: client.score(messages, candidates))


def _connection_error(exc: Exception) -> bool:
    """Whether `exc` is the kind a server that dropped the connection or died under it gives (not a bad request)."""
    import litellm

    return isinstance(exc, litellm.APIConnectionError | litellm.InternalServerError | ConnectionError)


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

    def _render(self, messages: Messages, tools: Sequence[dict[str, Any]] | None = None) -> list[int]:
        """Prompt token ids; a final assistant message is a reply already begun, left open to continue. `tools`
        go to a chat template that renders them, else into the text form (`agents.tool_calls`)."""
        tok = self._engine.tokenizer
        begun = ""
        if messages and messages[-1]["role"] == "assistant":
            messages, begun = messages[:-1], messages[-1]["content"]
        has_tool_turns = any(m.get("tool_calls") or m["role"] == "tool" for m in messages)
        options: dict[str, Any] = {}
        if (tools or has_tool_turns) and supports_tools(tok.chat_template):
            options["tools"] = list(tools or []) or None
        elif tools or has_tool_turns:
            messages = plain_messages(messages, tools)  # type: ignore[assignment]
        text = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False, **options) + begun
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
        tools: Sequence[Sequence[dict[str, Any]] | None] | None = None,
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n, temperature=temperature, max_tokens=max_tokens, stop=list(stop or []) or None, seed=seed, logprobs=0
        )
        offered = list(tools) if tools is not None else [None] * len(conversations)
        prompts = [{"prompt_token_ids": self._render(m, t)} for m, t in zip(conversations, offered, strict=True)]
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
        return [[with_tool_calls(c) for c in g] if t else g for g, t in zip(results, offered, strict=True)]

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
