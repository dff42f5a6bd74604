"""The environment contract (gymnasium-style, text in and text out) and the environment registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class EnvInputError(Exception):
    """An environment's error that means the user's input or machine was wrong (a malformed file, a missing optional
    package): the CLI reports it as one line, never a traceback. Environments' own error classes subclass it."""


@dataclass(frozen=True)
class TaskSpec:
    """One task an environment can be reset to: what the agent is asked and how it is judged."""

    task_id: str
    """Stable identifier, unique within its suite (e.g. `HumanEval/0`, `easy/017`)."""
    instruction: str
    """What the agent is asked to do, in words."""
    data: dict[str, Any] = field(default_factory=dict)
    """Environment-specific payload (tests, entry point, room layout, ...)."""


@runtime_checkable
class Environment(Protocol):
    """Gymnasium's contract over text: deterministic given the seed, so any state can be rebuilt by replay.

    `info` from `reset`/`step` may carry `admissible_actions` (list[str]) and `feedback` (str):
    what the environment can tell the agent about why an action failed.
    """

    task: TaskSpec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode; returns the first observation and info."""
        ...

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply the agent's action; returns (observation, reward, terminated, truncated, info)."""
        ...

    def close(self) -> None:
        """Release resources (sandboxes, engines)."""
        ...


class EnvFactory(Protocol):
    """Builds an environment for one task of a suite.

    The runner passes `max_attempts`, `max_steps` and shared resources (e.g. `sandbox`) as keywords;
    a factory uses those it understands and ignores the rest.
    """

    def __call__(self, task: TaskSpec, **kwargs: Any) -> Environment: ...


@dataclass(frozen=True)
class PromptProfile:
    """What the agent reads before a task: the system prompt and example turns."""

    system: str
    """The system prompt."""
    few_shot: tuple[dict[str, str], ...] = ()
    """Example turns (user/assistant messages) between the system prompt and the task."""


DEFAULT_PROMPT = "default"
"""The name of an environment's own prompt (`EnvEntry.system_prompt` and `few_shot`)."""

Expert = Callable[[Any], list[str]]
"""A demonstrator: from an environment just reset, the replies it sends, in the agent's reply format."""


@dataclass(frozen=True)
class EnvEntry:
    """A registered environment kind: how to list its tasks and how to build an env for one."""

    name: str
    """Registry id used on the CLI (`--env code`)."""
    load_tasks: Callable[..., list[TaskSpec]]
    """(suite, split, limit) -> tasks."""
    make: EnvFactory
    """Builds an environment for one task."""
    system_prompt: str
    """The agent's system prompt for this environment (may hold few-shot examples)."""
    few_shot: tuple[dict[str, str], ...] = ()
    """Example turns (user/assistant messages) placed between the system prompt and the task."""
    parse_action: Callable[[str], str] = str.strip
    """Turns the model's reply into the action sent to `step` (the code env takes the whole reply)."""
    stop: tuple[str, ...] = ()
    """Stop sequences for the model's reply (e.g. a newline for one-line commands)."""
    complete_reply: Callable[[str], str] = str
    """Restores what a stop sequence cut off a reply (e.g. a code block's closing fence) before it is stored."""
    max_tokens: int = 384
    """Default generation budget per reply."""
    suites: tuple[str, ...] = ()
    """Built-in suite names (for help and error messages)."""
    splits: tuple[str, ...] = ()
    """Split names the tasks come in."""
    eval_split: str | None = None
    """The held-out split methods evaluate on by default."""
    prompts: dict[str, PromptProfile] = field(default_factory=dict)
    """Prompt profiles besides `default` (e.g. `compact`: a few lines of rules, no demonstrations)."""
    expert: Expert | None = None
    """The environment's demonstrator (behaviour cloning, warm start), when it has one."""
    resources: Callable[[], dict[str, Any]] = dict
    """Shared resources its episodes use (e.g. `{"sandbox": ...}`), made once per job; each has `close()`."""
    default_suite: str | None = None
    """The suite used when none is named (what `load_tasks(None, ...)` loads)."""
    max_steps: int | None = 50
    """Steps per episode by default (None: one step per allowed attempt, the runner's `max_attempts`)."""
    oracle: Callable[[Any], str | None] | None = None
    """The next reply from a live episode's current state (tree search's expert rollouts and repairs), if any."""
    thought_prefix: str | None = None
    """How a thought is sent as its own action (household: `think: `); None where thoughts go inline in a reply."""
    tool_specs: Callable[[TaskSpec], list[dict[str, Any]]] | None = None
    """A task's tools as OpenAI function specs, where agents call tools: its first observation lists them in the
    text form of `agents.tool_calls` (`Tools:` and one spec per line, at its end) and the agent also offers them to
    the model natively (`tools=`)."""
    ttsi: str | None = None
    """`module:function` of the environment's test-time self-improvement (`training.ttsi.EnvTTSI`), if it has one:
    per task (the code environment's) or per agent step (`training.ttsi_steps:step_ttsi`, with `ttsi_writer`)."""
    ttsi_writer: str | None = None
    """`module:function` making the example writer of per-step TT-SI (`training.ttsi_steps.MakeWriter`), if any."""
    consistency: str | None = None
    """Module of its reflection + self-consistency vote at inference (`evaluate_consistency`, `summarize_consistency`,
    `ConsistencyConfig`), where answers can be compared without ground truth (code: by running them)."""

    def prompt(self, name: str | None = None) -> PromptProfile:
        """The prompt profile `name` (None or `default`: the environment's own); ValueError naming the known ones."""
        if name in (None, DEFAULT_PROMPT):
            return PromptProfile(self.system_prompt, tuple(self.few_shot))
        try:
            return self.prompts[name]
        except KeyError:
            known = ", ".join([DEFAULT_PROMPT, *self.prompts])
            raise ValueError(f"the {self.name} environment has no prompt {name!r}; its prompts: {known}") from None

    def prompt_names(self) -> tuple[str, ...]:
        return (DEFAULT_PROMPT, *self.prompts)

    def resolved_max_steps(self, max_attempts: int) -> int:
        """Steps per episode when none are asked for."""
        return max_attempts if self.max_steps is None else self.max_steps

    def ability(self, name: str) -> Any:
        """The object a `module:attribute` (or module) ability names, imported on first use; ValueError when the
        environment does not have it."""
        import importlib

        target = getattr(self, name)
        if target is None:
            raise ValueError(f"the {self.name} environment has no {name} ability")
        module, _, attribute = target.partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attribute) if attribute else loaded


_REGISTRY: dict[str, EnvEntry] = {}

GYM_NAMESPACE = "kintsugi"
"""The gymnasium namespace of Kintsugi's environments (`environments.gym` registers them)."""


def gym_id(name: str) -> str:
    """The gymnasium id of the Kintsugi environment `name` (`kintsugi/<name>-v0`)."""
    return f"{GYM_NAMESPACE}/{name}-v0"


PLUGIN_GROUP = "kintsugi.environments"
"""The entry-point group third-party environments register through: each entry point names an `EnvEntry`, or a
callable returning one, or a module that calls `register` when imported."""

_plugins_loaded = False


def register(entry: EnvEntry) -> None:
    """Add an environment kind to the registry (later entries with the same name replace earlier ones)."""
    _REGISTRY[entry.name] = entry


def _load() -> None:
    """Register the built-in environments, then the plug-ins of installed packages (once)."""
    global _plugins_loaded
    import environments  # noqa: F401  (registers the built-in environments)

    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for point in entry_points(group=PLUGIN_GROUP):
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plug-in must not take the built-in environments down with it
            import logging

            logging.getLogger(__name__).warning("environment plug-in %s failed to load: %s", point.value, exc)
            continue
        if callable(loaded) and not isinstance(loaded, EnvEntry):
            loaded = loaded()
        if isinstance(loaded, EnvEntry):
            register(loaded)


def get_entry(name: str) -> EnvEntry:
    """The registered environment `name`; raises KeyError naming the known ones."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown environment {name!r}; known environments: {known}") from None


def registered() -> list[str]:
    """Names of every registered environment (built-in and plug-ins), sorted."""
    _load()
    return sorted(_REGISTRY)
