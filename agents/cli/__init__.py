"""The `kintsugi` command line, one module per command group. Start-up stays light: torch and friends load inside
the commands that use them.

`common` holds the Typer apps and the helpers every command shares; importing a command module registers its
commands on them; `errors.main` is the entry point (the one error path)."""

from agents.cli import runs, sandbox, search, serving, training, ttsi  # noqa: F401  (registers the commands)
from agents.cli.common import UserError, app
from agents.cli.errors import USER_ERRORS, main

__all__ = ["USER_ERRORS", "UserError", "app", "main"]
