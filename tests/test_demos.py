"""The README's demos run as a user runs them (the Makefile target's own `kintsugi` command in a process of its own,
vLLM on CPU for the episodes, a full fine-tune on the CPU), made smaller by options appended to the command: what
each trains on, and that it measures base and improved model on the same held-out tasks with a paired test whose
counts are the stored episodes'. Whether the full-size demos improve the model is a learning target, checked by
`benchmarks/demos.py` (vLLM on CPU is not bitwise reproducible, so a p-value threshold here would fail by machine)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
import typer

from agents.cli import app
from agents.llm.vllm_server import VLLMServerError, find_vllm_python
from agents.metrics import paired_comparison
from agents.store import Store
from environments.base import get_entry

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("demos", ROOT / "benchmarks" / "demos.py")
demos = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demos)

try:
    find_vllm_python()
except VLLMServerError as exc:  # pragma: no cover - `make test` installs it
    pytest.skip(f"vLLM is not installed here ({exc})", allow_module_level=True)


def _stage_run(store: Store, run_id: str, iteration: int, stage: str) -> str:
    sql = "SELECT result FROM stages WHERE run_id = ? AND iteration = ? AND stage = ?"
    return json.loads(store.db.execute(sql, (run_id, iteration, stage)).fetchone()[0])["run_id"]


def _solved(store: Store, run_id: str) -> dict[str, bool]:
    return {t.task_id: t.success for t in store.trajectories(run_id, status="done")}


def test_the_readme_demo_trains_on_its_own_passing_answers_and_pairs_base_and_rest_on_held_out_tasks(tmp_path):
    """`make demo` on the first 12 train and 12 held-out one-liners, 3 samples each, one epoch."""
    out = tmp_path / "demo"
    command = [*demos.makefile_command("demo", out), "--limit", "12", "--samples", "3", "--eval-limit", "12",
               "--epochs", "1", "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    base, rest = report["iterations"][0], report["iterations"][1]
    assert report["config"]["method"] == "rest" and report["config"]["suite"] == "graded:1-2"
    assert report["config"]["finetune"] == "full"
    assert (Path(rest["adapter"]) / "model.safetensors").is_file()
    with Store(out / "kintsugi.db") as store:
        ids = json.loads(store.db.execute(
            "SELECT trajectory_ids FROM datasets WHERE run_id = ? AND iteration = 1 AND kind = 'agent_sft'",
            (report["run_id"],)).fetchone()[0])  # fmt: skip
        trained_on = [store.get_trajectory(i) for i in ids]
        sampled = store.trajectories(_stage_run(store, report["run_id"], 1, "sample"), status="done")
        before = _solved(store, _stage_run(store, report["run_id"], 0, "eval"))
        after = _solved(store, _stage_run(store, report["run_id"], 1, "eval"))
    # the training set is the model's own passing answers on train tasks: nothing from a reference or a test task
    assert len(sampled) == 12 * 3 and len({t.task_id for t in sampled}) == 12
    assert len(trained_on) == rest["agent_sft_size"] > 0
    assert {t.id for t in trained_on} <= {t.id for t in sampled if t.success}
    assert all(t.success and t.source.value == "sampled" for t in trained_on)
    assert len(before) == 12 and set(after) == set(before)  # the same held-out tasks, before and after
    assert not {t.task_id for t in sampled} & set(before)
    # the report's pass@1 and paired test are those of the stored episodes
    assert base["eval_pass_at_1"] == sum(before.values()) / 12 and rest["eval_pass_at_1"] == sum(after.values()) / 12
    assert rest["vs_base"] == paired_comparison(before, after)


def test_the_readme_warm_start_command_is_valid_and_its_tasks_exist():
    """`make demo-warm-start`'s command parses as `kintsugi warm-start` (every option known and in range, without
    running it) and its suite holds 40 training games to clone and the 22 held-out heating games it reports on. The
    warm start itself, killed in every stage and resumed, is run in `tests/test_resume_kill.py`."""
    words = demos.makefile_command("demo-warm-start", Path("runs/unused"))[1:]
    group = typer.main.get_command(app)
    parent = group.make_context("kintsugi", list(words))
    params = group.get_command(parent, words[0]).make_context(words[0], list(words[1:]), parent=parent).params
    assert (params["env"], params["backend"], params["finetune"], params["demos"]) == ("household", "vllm", "full", 40)
    entry = get_entry(params["env"])
    demo_tasks = entry.load_tasks(params["suite"], params["split"], params["demos"])
    held_out = entry.load_tasks(params["suite"], params["eval_split"] or entry.eval_split, params["eval_limit"])
    assert len(demo_tasks) == 40 and len(held_out) == 22
    with pytest.raises(typer.BadParameter):  # the check can fail: an out-of-range option is refused
        group.get_command(parent, words[0]).make_context(words[0], [*words[1:], "--demos", "0"], parent=parent)
