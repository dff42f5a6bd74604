"""Gymnasium-style text environments and their task suites.

Importing this package registers the built-in environments; look them up with `get_entry(name)`.
"""

from environments.base import EnvEntry, Environment, TaskSpec, get_entry, register, registered

__all__ = ["EnvEntry", "Environment", "TaskSpec", "get_entry", "register", "registered"]

import environments.code
import environments.household
import environments.tools  # noqa: F401  (registers `code`, `household` and `tools`)
