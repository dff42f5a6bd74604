"""The one error path: which exceptions are the user's (one line, exit 2), where an internal error's traceback
goes, and `main`, the `kintsugi` entry point."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import typer

from agents.cli.common import (
    app,
    console,
)

USER_ERRORS = frozenset(
    {
        "agents.cli.common.UserError",
        "agents.store.StoreError",
        "agents.llm.embedded.ModelNotFoundError",
        "agents.llm.vllm_server.VLLMServerError",
        "agents.viewer.site.ViewerError",
        "training.data.DatasetError",
        "training.registry.RegistryError",
        "environments.base.EnvInputError",
        "gzip.BadGzipFile",
        "builtins.FileNotFoundError",
        "builtins.IsADirectoryError",
        "builtins.NotADirectoryError",
        "builtins.PermissionError",
        "builtins.ModuleNotFoundError",
    }
)
"""Exceptions (by module and class name, so nothing is imported to name them) that mean the user's input or machine
was wrong, wherever in a command they surface: `main` reports them as one line and exit code 2."""


MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""OSErrors that say the disk is full or read-only: the machine, not Kintsugi, and the user can fix it."""


SQLITE_MACHINE_ERRORS = ("database or disk is full", "attempt to write a readonly database")
"""The same two, as SQLite says them."""


def is_user_error(exc: BaseException) -> bool:
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}
    if names & USER_ERRORS:
        return True
    if isinstance(exc, OSError):
        return exc.errno in MACHINE_ERRNOS
    return type(exc).__module__ == "sqlite3" and any(text in str(exc) for text in SQLITE_MACHINE_ERRORS)


def log_traceback(exc: BaseException) -> Path | None:
    """Write the traceback under the cache's logs folder; returns its path (None if even that cannot be written)."""
    import time
    import traceback

    from agents.llm.embedded import cache_dir

    try:
        folder = cache_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(f"kintsugi {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


def main() -> None:
    """The one error path: a user's mistake is one line and exit 2, Ctrl-C exits 130, and an internal error is a
    short message plus where its traceback was written (`-v` prints it too)."""
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        console.print("interrupted: what finished is stored; the same command with --resume continues")
        code = 130
    except typer.TyperException as exc:  # a usage error or a bad parameter, as one line
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        context = getattr(exc, "ctx", None)
        hint = f" (`{context.command_path} --help` lists the options)" if context is not None else ""
        console.print(f"[bold red]error:[/] {message}{hint}", highlight=False, soft_wrap=True)
        code = getattr(exc, "exit_code", 2)
    except Exception as exc:
        if is_user_error(exc):
            message = (str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)) or type(exc).__name__
            lines = message.splitlines()
            shown = message if verbose or len(lines) == 1 else f"{lines[0]} (-v shows the rest)"
            console.print(f"[bold red]error:[/] {shown}", highlight=False, soft_wrap=True)
            code = 2
        else:
            path = log_traceback(exc)
            where = f"; the traceback is in {path}" if path else ""
            console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}{where}", highlight=False,
                          soft_wrap=True)  # fmt: skip
            if verbose:
                console.print_exception()
            code = 1
    sys.exit(code if isinstance(code, int) else 0)
