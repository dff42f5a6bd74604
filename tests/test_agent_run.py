"""The agent end to end on the real embedded model: runs, storage, export, and resume after kill -9."""

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from agents.export import export_run
from agents.runner import RunConfig, run_agent
from agents.store import Store

pytestmark = pytest.mark.slow

KINTSUGI = [sys.executable, "-m", "agents.cli"]


def _steps_by_trajectory(db_path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(db_path)
    rows = db.execute(
        "SELECT trajectory_id, idx, model_output, action, observation FROM steps ORDER BY trajectory_id, idx"
    ).fetchall()
    db.close()
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    return out


def test_code_run_stores_every_step_and_exports_trl_conversations(llm, tmp_path):
    store = Store(tmp_path / "kintsugi.db")
    config = RunConfig(env="code", suite="easy", split="test", limit=2, samples=2, max_attempts=2, max_tokens=160)
    seen = []
    result = run_agent(llm, store, config, on_progress=lambda done, total: seen.append((done, total)))
    m = result.metrics
    assert m["tasks"] == 2 and m["trajectories"] == 4
    assert set(m["pass_at_k"]) == {"1", "2"} and 0.0 <= m["pass_at_k"]["1"] <= m["pass_at_k"]["2"] <= 1.0
    assert m["tokens_per_second"] > 0
    assert seen[-1] == (4, 4)
    trajs = store.trajectories(result.run_id)
    assert len(trajs) == 4 and all(t.status == "done" for t in trajs)
    for t in trajs:
        assert 1 <= len(t.steps) <= 2
        assert [s.index for s in t.steps] == list(range(len(t.steps)))
        assert t.model == "smollm2-135m-instruct" and t.seed is not None
        last = t.steps[-1]
        assert last.terminated or last.truncated
        assert all(s.num_tokens > 0 and s.logprob_sum is not None for s in t.steps)
        if not t.success:
            assert last.feedback
    run = store.get_run(result.run_id)
    assert run["status"] == "done" and run["metrics"]["trajectories"] == 4

    target = tmp_path / "export.jsonl"
    assert export_run(store, result.run_id, target) == 4
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles[:2] == ["system", "user"] and roles[-1] == "assistant"
        assert all(a != b for a, b in itertools.pairwise(roles[1:]))  # user/assistant alternate
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(target), split="train")
    assert ds.num_rows == 4 and "messages" in ds.column_names
    store.close()


def test_household_episodes_run_through_the_same_agent(llm, tmp_path):
    with Store(tmp_path / "kintsugi.db") as store:
        config = RunConfig(env="household", split="valid_unseen", limit=2, max_steps=3)
        result = run_agent(llm, store, config)
        trajs = store.trajectories(result.run_id)
        assert len(trajs) == 2
        for t in trajs:
            assert t.initial_observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
            assert len(t.steps) == 3 or t.success
            assert all("\n" not in s.action for s in t.steps)


def test_resume_reads_the_environment_from_the_store_not_the_command_line(tmp_path):
    """`run --resume` without `--env household` resumes a household run (the CLI's default env is code)."""
    from dataclasses import asdict

    with Store(tmp_path / "kintsugi.db") as store:
        run_id = store.create_run(
            asdict(RunConfig(env="household", split="valid_unseen", limit=1, max_steps=2)), model="smollm2"
        )
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "run", "--resume", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["run_id"] == run_id
    with Store(tmp_path / "kintsugi.db") as store:
        (traj,) = store.trajectories(run_id)
        assert traj.env == "household" and traj.task_id == "valid_unseen/0000" and len(traj.steps) == 2
        assert store.get_run(run_id)["status"] == "done"


def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "run"
    args = [
        "run",
        "--suite",
        "easy",
        "--split",
        "test",
        "--limit",
        "2",
        "--samples",
        "2",
        "--max-attempts",
        "3",
        "--batch-size",
        "2",
        "--max-tokens",
        "96",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen([*KINTSUGI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = out / "kintsugi.db"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if db.exists() and sum(len(v) for v in _steps_by_trajectory(db).values()) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _steps_by_trajectory(db)
    assert before

    done = subprocess.run([*KINTSUGI, *args, "--resume", "--json"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(done.stdout)
    assert metrics["trajectories"] == 4

    after = _steps_by_trajectory(db)
    for traj_id, steps in before.items():  # nothing stored before the kill was lost or rewritten
        assert after[traj_id][: len(steps)] == steps
    for steps in after.values():  # no duplicated or missing step indices
        assert [s[0] for s in steps] == list(range(len(steps)))
    with Store(db) as store:
        finished = store.trajectories(metrics["run_id"], status="done")
        assert Counter((t.task_id, t.sample_index) for t in finished) == {
            (t, k): 1 for t in {x.task_id for x in finished} for k in range(2)
        }
        assert len(store.runs()) == 1


def test_an_episode_that_outgrows_the_context_ends_and_the_others_go_on(llm, tmp_path):
    """The model's context is 8192 tokens: a conversation that no longer fits ends its own episode only."""
    import dataclasses

    from environments.base import get_entry, register

    entry = get_entry("household")
    tasks = entry.load_tasks(None, "valid_unseen", 12)
    budget = llm._engine.context_length - entry.max_tokens  # what a prompt may take before a reply

    def prompt_tokens(system: str, task) -> int:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": entry.make(task).reset()[0]}]
        return llm.count_tokens(llm.render(messages))

    lengths = {t.task_id: prompt_tokens("", t) for t in tasks}
    longer = max(tasks, key=lambda t: lengths[t.task_id])
    shorter = min(tasks, key=lambda t: lengths[t.task_id])
    filler = "You are careful. " * ((budget - lengths[longer.task_id]) // 4 + 2)
    assert prompt_tokens(filler, longer) > budget >= prompt_tokens(filler, shorter), "pick other tasks"
    register(dataclasses.replace(entry, name="household-long-prompt", system_prompt=filler, few_shot=()))
    suite = tmp_path / "two.jsonl"
    suite.write_text("".join(json.dumps({"split": "valid_unseen", "index": t.data["index"]}) + "\n"
                             for t in (longer, shorter)))  # fmt: skip
    with Store(tmp_path / "k.db") as store:
        config = RunConfig(env="household-long-prompt", suite=str(suite), max_steps=1, batch_size=2)
        result = run_agent(llm, store, config)
        trajs = {t.task_id: t for t in store.trajectories(result.run_id)}
    assert trajs[longer.task_id].meta.get("ended") == "context_full" and not trajs[longer.task_id].steps
    assert len(trajs[shorter.task_id].steps) == 1 and "ended" not in trajs[shorter.task_id].meta
    assert all(t.status == "done" for t in trajs.values()) and result.metrics["trajectories"] == 2
