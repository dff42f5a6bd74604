"""The CLI's options are checked against the config dataclasses they fill, so the two cannot drift apart: every
option of a command is a field of its configs (under its own name or a declared rename) or is declared as
command-line only; every field is an option or declared as set by code only; and an option's default is its
field's default. A new field or option fails here until it is given a place."""

from __future__ import annotations

import dataclasses
from typing import Any

import click
import pytest
import typer

from agents.cli import app
from agents.runner import RunConfig
from reflection.mcts import MCTSConfig
from reflection.mcts_pipeline import SearchConfig
from reflection.revision import RevisionConfig
from training.agent_r import AgentRConfig
from training.self_training import SelfTrainConfig
from training.ttsi import TTSIConfig, TTSIOptions
from training.warm_start import WarmStartConfig

OUTPUT = {"out_dir", "as_json", "verbose"}
"""Options about where results go and how they are shown, not about the experiment."""
TRAINING_DETAILS = {"train_batch_size", "gradient_accumulation_steps", "lora_r", "lora_alpha", "target_modules"}
"""Optimiser and LoRA shape of the staged trainers: set in Python (or `benchmarks/learning.py`), fixed on the CLI."""

SPECS: dict[str, dict[str, Any]] = {
    "run": {
        "configs": (RunConfig,),
        "renames": {},
        "cli_only": OUTPUT | {"resume"},
        "code_only": set(),
    },
    "warm-start": {
        "configs": (WarmStartConfig,),
        "renames": {"lr": "learning_rate", "rank": "lora_r", "alpha": "lora_alpha"},
        "cli_only": OUTPUT | {"resume", "backend"},
        "code_only": {"max_attempts", "base", "target_modules", "batch_size", "gradient_accumulation_steps"},
    },
    "self-train": {
        "configs": (SelfTrainConfig,),
        "renames": {"lr": "learning_rate"},
        "cli_only": OUTPUT | {"resume", "backend"},
        "code_only": TRAINING_DETAILS | {"max_attempts", "temperature"},
    },
    "agent-r": {
        "configs": (AgentRConfig,),
        "renames": {"lr": "learning_rate"},
        "cli_only": OUTPUT | {"resume", "backend"},
        "code_only": TRAINING_DETAILS | {"exploration", "temperature", "max_pairs_per_tree", "batch_size"},
    },
    "tt-si": {
        "configs": (TTSIConfig, TTSIOptions),
        "renames": {"epochs": "num_train_epochs", "lr": "learning_rate"},
        # which inputs, which teacher and where it runs: arguments of `ttsi_command`, not of the method's config
        "cli_only": OUTPUT
        | {"env", "suite", "split", "limit", "teacher", "teacher_backend", "api_base", "threads", "ray", "ray_workers"}
        | {"resume"},
        "code_only": {
            "num_candidates",
            "candidate_temperature",
            "length_normalized",
            "synthesis_tries",
            "synthesis_temperature",
            "synthesis_max_tokens",
            "answer_max_tokens",
            "lora_r",
            "lora_alpha",
            "lora_target_modules",
            "prompt",
        },
    },
    "search": {
        "configs": (SearchConfig, MCTSConfig, RevisionConfig),
        "renames": {},
        "cli_only": OUTPUT | {"short_prompt", "backend", "model", "adapter", "api_base", "resume"},
        "code_only": {
            "mcts",
            "revision",
            "temperature",
            "max_tokens",
            "map_cutoff",
            "allow_thoughts",
            "use_snapshots",
            "system_prompt",
            "max_pairs_per_tree",
            "judge",
            "calibrate",
            "thought",
            "thought_max_tokens",
            "resolve_iterations",
            "max_continuation",
        },
    },
}


def _command(name: str) -> click.Command:
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def _fields(configs: tuple[type, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for config in configs:
        for f in dataclasses.fields(config):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            found.setdefault(f.name, default)
    return found


def _as_field_value(option_default: Any, field_default: Any) -> Any:
    """A comma-separated option fills a tuple field."""
    if isinstance(field_default, tuple) and isinstance(option_default, str):
        return tuple(part.strip() for part in option_default.split(",") if part.strip())
    return option_default


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_option_is_a_field_or_declared_command_line_only(name):
    spec = SPECS[name]
    fields = _fields(spec["configs"])
    options = {p.name for p in _command(name).params}
    unplaced = {o for o in options if spec["renames"].get(o, o) not in fields} - spec["cli_only"]
    assert not unplaced, f"`kintsugi {name}` options with no config field: {sorted(unplaced)}"
    stale = spec["cli_only"] - options
    assert not stale, f"declared command-line only but not options of `kintsugi {name}`: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_field_is_an_option_or_declared_code_only(name):
    spec = SPECS[name]
    reached = {spec["renames"].get(p.name, p.name) for p in _command(name).params}
    missing = set(_fields(spec["configs"])) - reached - spec["code_only"]
    assert not missing, f"config fields `kintsugi {name}` cannot set: {sorted(missing)}"
    stale = spec["code_only"] & reached
    assert not stale, f"declared code only but options of `kintsugi {name}`: {sorted(stale)}"


def _default_drift(name: str, spec: dict[str, Any]) -> list[str]:
    fields = _fields(spec["configs"])
    drift = []
    for param in _command(name).params:
        field = spec["renames"].get(param.name, param.name)
        if field not in fields or fields[field] is dataclasses.MISSING:
            continue
        if _as_field_value(param.default, fields[field]) != fields[field]:
            drift.append(f"--{param.name.replace('_', '-')}: option {param.default!r}, field {fields[field]!r}")
    return drift


@pytest.mark.parametrize("name", sorted(SPECS))
def test_an_options_default_is_its_fields_default(name):
    drift = _default_drift(name, SPECS[name])
    assert not drift, f"`kintsugi {name}` defaults that differ from its configs: {drift}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_option_says_what_it_does(name):
    silent = [p.name for p in _command(name).params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not silent, f"`kintsugi {name}` options without help: {silent}"


def test_the_check_catches_a_drifted_default():
    """Not vacuous: a config whose defaults moved under the CLI (more samples, a tuple field) is reported."""

    @dataclasses.dataclass
    class Drifted:
        samples: int = 2
        seed: int = 0
        env: tuple[str, ...] = ("household",)

    drift = _default_drift("run", {**SPECS["run"], "configs": (Drifted,)})
    assert sorted(drift) == ["--env: option 'code', field ('household',)", "--samples: option 1, field 2"]
