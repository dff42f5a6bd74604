"""An OpenAI-compatible HTTP server over a local transformers model (`kintsugi serve`).

It speaks the parts of the API the litellm backend uses: `GET /v1/models` and `POST /v1/chat/completions`
with `n`, `temperature`, `max_tokens`, `stop`, `seed`, `logprobs`, and vLLM's scoring extension
(`prompt_logprobs`, `add_generation_prompt`, `continue_final_message`), so that anything pointed at a
`vllm serve` endpoint also works against the embedded model on a CPU.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agents.llm.transformers_backend import TransformersLLM

log = logging.getLogger(__name__)


class RequestError(ValueError):
    """A request the server refuses, answered with HTTP 400 and the message."""


def _check_messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise RequestError("`messages` must be a non-empty list")
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise RequestError("each message needs string `role` and `content`")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def chat_completion(llm: TransformersLLM, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The response body for one `/v1/chat/completions` request."""
    messages = _check_messages(body.get("messages"))
    n = int(body.get("n") or 1)
    max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
    temperature = float(body.get("temperature") if body.get("temperature") is not None else 1.0)
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    if not 1 <= n <= 64 or not 1 <= max_tokens <= 8192:
        raise RequestError("`n` must be 1..64 and `max_tokens` 1..8192")
    response: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
    }
    continue_final = bool(body.get("continue_final_message"))
    if continue_final:
        if messages[-1]["role"] != "assistant":
            raise RequestError("continue_final_message needs an assistant message last")
        prompt_text = llm.render(messages[:-1]) + messages[-1]["content"]
    else:
        prompt_text = llm.render(messages, add_generation_prompt=body.get("add_generation_prompt", True))
    if body.get("prompt_logprobs") is not None:
        response["prompt_logprobs"] = [
            None if lp is None else {str(tid): {"logprob": lp, "rank": None, "decoded_token": text}}
            for tid, text, lp in llm.token_logprobs(prompt_text)
        ]
    if continue_final:
        completions = llm.generate_batch_from_text(
            [prompt_text], n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=body.get("seed")
        )[0]
    else:
        completions = llm.generate(
            messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, seed=body.get("seed")
        )
    want_logprobs = bool(body.get("logprobs"))
    response["choices"] = [
        {
            "index": i,
            "message": {"role": "assistant", "content": c.text},
            "finish_reason": c.finish_reason,
            "logprobs": {
                "content": [
                    {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
                    for t, lp in zip(c.tokens, c.token_logprobs, strict=False)
                ]
            }
            if want_logprobs
            else None,
        }
        for i, c in enumerate(completions)
    ]
    prompt_tokens = completions[0].prompt_tokens if completions else 0
    used = sum(c.completion_tokens for c in completions)
    response["usage"] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": used,
        "total_tokens": prompt_tokens + used,
    }
    return response


def make_server(llm: TransformersLLM, name: str, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) for `llm` under the model name `name`."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s " + fmt, self.address_string(), *args)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "kintsugi"}]})
            elif self.path.rstrip("/") == "/health":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise RequestError("the request body must be a JSON object")
                with lock:
                    payload = chat_completion(llm, name, body)
                self._send(200, payload)
            except (RequestError, ValueError, TypeError) as exc:
                self._send(400, {"error": {"message": str(exc), "type": "invalid_request_error"}})
            except Exception as exc:  # the server must answer, whatever broke
                log.exception("request failed")
                self._send(500, {"error": {"message": repr(exc), "type": "server_error"}})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
