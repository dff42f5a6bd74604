"""What every command shares: the Typer apps, the two consoles, the one-line failure, and the helpers that open a
store or a model with a clean error."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Kintsugi: self-improving tool-using LLM agents.",
)
sandbox_app = typer.Typer(no_args_is_help=True, help="Run code in a sandbox.")
app.add_typer(sandbox_app, name="sandbox")
tree_app = typer.Typer(no_args_is_help=True, help="Look at MCTS search trees (built by `kintsugi search`).")
app.add_typer(tree_app, name="tree")
console = Console(stderr=True)
"""Progress, notes and errors (stderr)."""
out = Console()
"""Results (stdout)."""


class UserError(Exception):
    """Bad input from the user: reported as one line and exit code 2, never a traceback."""


def fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def store_file(location: Path) -> Path:
    from agents.store import STORE_NAME

    return location if location.suffix == ".db" else location / STORE_NAME


def open_store(path: Path) -> Any:
    """The store at `path` (created if missing), or a one-line error."""
    from agents.store import Store, StoreError

    try:
        return Store(path)
    except (StoreError, OSError) as exc:
        fail(f"cannot open the store {path}: {exc}")


def open_llm(backend: str, model: str, adapter: str | None, api_base: str | None) -> Any:
    """The model a command asked for; a bad choice of backend, model or adapter is a one-line error."""
    from agents.llm import make_llm
    from agents.llm.embedded import ModelNotFoundError

    options: dict[str, Any] = {}
    if api_base:
        if backend != "litellm":
            fail("--api-base goes with --backend litellm")
        options["api_base"] = api_base
    try:
        return make_llm(backend, model, adapter=adapter, **options)
    except (ValueError, ModelNotFoundError, FileNotFoundError) as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"the {backend} backend needs its extra (pip install 'kintsugi[{backend}]'; vllm also needs a GPU): {exc}")


EXECUTION_FLAGS = ("ray", "ray_workers", "batch_size", "api_base")
"""Options that say how episodes are played, not what is measured: `--resume` takes them from the command line."""


def with_execution_flags(ctx: typer.Context, config: Any) -> Any:
    """A stored config with the execution flags typed on this command line (a resume may move to Ray or back)."""
    from dataclasses import fields, replace

    names = {f.name for f in fields(config)}
    typed = {k: ctx.params[k] for k in EXECUTION_FLAGS
             if k in ctx.params and k in names and ctx.get_parameter_source(k).name == "COMMANDLINE"}  # fmt: skip
    return replace(config, **typed)


def refuse_contradictions(
    ctx: typer.Context, stored: Any, run_id: str, renames: Mapping[str, str] | None = None
) -> None:
    """On --resume the stored config rules: a flag typed on the command line that says otherwise is an error.
    `stored`: a config dataclass, or a mapping of stored names to values; `renames`: option name -> stored name
    where they differ."""
    from dataclasses import asdict, is_dataclass

    values = asdict(stored) if is_dataclass(stored) else dict(stored)
    renames = renames or {}
    for name in ctx.params:
        key = renames.get(name, name)
        if key not in values:
            continue
        source = ctx.get_parameter_source(name)
        if source is None or source.name != "COMMANDLINE":
            continue
        given, kept = ctx.params[name], values[key]
        if given != kept:
            flag = "--" + name.replace("_", "-")
            fail(f"{flag} {given} contradicts run {run_id}, which was started with {kept!r}; drop {flag} to resume "
                 "it, or start a new run without --resume")  # fmt: skip


def trained_prompt(weights: str | None) -> str | None:
    from training.lora import adapter_prompt

    return adapter_prompt(weights)
