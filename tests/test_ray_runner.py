"""Episodes on a real local Ray cluster (a head and two worker nodes on 127.0.0.1, no dashboard, small object
stores), with the embedded model in each worker: the same greedy trajectories as the in-process runner, and a
worker killed mid-run costs its episode a replay, never a loss or a duplicate."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from agents.runner import RunConfig, run_agent
from agents.store import Store

# The cluster authenticates with a token (Ray's default for local clusters since 2.59), which Ray reads when it is
# imported: the nodes started below and this process (the driver) share it.
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
os.environ.update(AUTH)
pytest.importorskip("ray", reason="Ray is optional here: pip install 'kintsugi[ray]' (make test installs it)")

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
CONFIG = RunConfig(env="household", split="valid_unseen", limit=4, max_steps=3, max_tokens=24, batch_size=4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """`ray start` a head (no CPUs: it schedules no episode) and two one-CPU worker nodes; `ray stop` after."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--object-store-memory", str(80 * 2**20), "--disable-usage-stats"]
    env = {**os.environ, **AUTH, "RAY_USAGE_STATS_ENABLED": "0"}
    head = [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "0",
            "--include-dashboard", "false", *common]  # fmt: skip
    node = [str(RAY), "start", "--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", *common]
    try:
        for argv in (head, node, node):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)
            assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, llm):
    """The in-process runner's greedy episodes: what the Ray runs must reproduce."""
    with Store(tmp_path_factory.mktemp("local") / "kintsugi.db") as store:
        result = run_agent(llm, store, CONFIG)
        return _actions(store, result.run_id)


def _actions(store: Store, run_id: str) -> dict[str, list[tuple[str, str]]]:
    done = store.trajectories(run_id, status="done")
    return {t.task_id: [(s.action, s.observation) for s in t.steps] for t in done}


def test_a_worker_killed_mid_episode_costs_a_replay_and_nothing_else(cluster, local_run, tmp_path):
    """Two workers on the cluster play the in-process runner's episodes, streaming each step back as it is taken
    (the store holds it while its episode still runs); a worker that has finished an episode is SIGKILLed as soon
    as the first step of its next one is stored: that episode is played again by a new worker, what of it had been
    stored is marked abandoned, and the store ends up with every episode done exactly once, as the in-process
    runner played it."""
    import ray

    from agents.ray_runner import run_on_ray
    from environments.base import get_entry

    finished_by: set[int] = set()  # workers that have finished an episode
    killed: list[tuple[int, str]] = []  # (worker, the trajectory it was playing)
    seen: list[tuple[str, int, int]] = []  # per committed step: its trajectory's status, steps stored, steps sent
    sent: Counter[str] = Counter()

    def committed(trajectory_id: str, _step) -> None:
        sent[trajectory_id] += 1
        traj = store.get_trajectory(trajectory_id)
        seen.append((traj.status, len(traj.steps), sent[trajectory_id]))
        pid = traj.meta["ray_worker_pid"]
        if not killed and pid in finished_by:
            killed.append((pid, trajectory_id))
            os.kill(pid, signal.SIGKILL)

    config = replace(CONFIG, ray=cluster, ray_workers=2)
    entry = get_entry(config.env)
    tasks = entry.load_tasks(config.suite, config.split, config.limit)
    with Store(tmp_path / "kintsugi.db") as store:
        result = run_on_ray(None, store, config, entry, tasks, on_result=lambda end: finished_by.add(end.worker_pid),
                            on_step=committed)  # fmt: skip
        trajectories = store.trajectories(result.run_id)
        assert _actions(store, result.run_id) == local_run  # every episode once, as the in-process runner played it
    # each step was in the store as it came, its episode still running: streamed, not sent back whole
    assert seen and all(status == "running" and n == m for status, n, m in seen), seen
    done = [t for t in trajectories if t.status == "done"]
    assert sorted(t.task_id for t in done) == sorted(local_run)  # nothing stored twice
    assert killed and result.metrics["ray"]["episodes_retried"] == 1
    [abandoned] = [t for t in trajectories if t.status != "done"]  # the killed worker's episode, as far as it got
    assert abandoned.id == killed[0][1] and abandoned.status == "abandoned" and len(abandoned.steps) >= 1
    assert "worker died" in abandoned.meta["abandoned"]
    pids = [t.meta["ray_worker_pid"] for t in done]
    assert pids.count(killed[0][0]) == 1  # the killed worker stored the episode it finished, nothing after
    assert len(set(pids)) >= 2 and os.getpid() not in pids  # the others were played by workers, not this process
    assert not ray.is_initialized()  # a joined cluster is left running, this process's connection closed


def test_run_with_ray_auto_starts_a_local_cluster_and_stops_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "run", "--env", "tools", "--split", "test", "--limit", "2",
         "--max-tokens", "16", "--ray", "auto", "--ray-workers", "1", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"episodes_retried": 0' in done.stdout and '"tasks": 2' in done.stdout, done.stdout[-2000:]
    with Store(tmp_path / "kintsugi.db") as store:
        [run] = store.runs()
        assert run["config"]["ray"] == "auto" and len(store.trajectories(run["id"], status="done")) == 2


def test_a_trainers_stage_plays_on_ray_with_the_stages_own_weights(cluster, llm, tmp_path):
    """A staged trainer's agent run (`StageBook.agent_run`, what self-train's sampling and every evaluation use) on
    Ray: the workers rebuild the stage's model from its recipe (here the base with a LoRA adapter the driver holds),
    and play what the driver would have played with it in process."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from agents.llm.embedded import converted_model_dir
    from training.stages import StageBook

    torch.manual_seed(0)
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(converted_model_dir()), lora).save_pretrained(tmp_path / "a")
    tuned = llm.with_adapter(str(tmp_path / "a"))
    config = replace(CONFIG, limit=2)
    with Store(tmp_path / "local.db") as store:
        local = _actions(store, run_agent(tuned, store, config).run_id)
        base = _actions(store, run_agent(llm, store, config).run_id)
    assert local != base  # the adapter changes what is played, so equality below means the workers loaded it
    with Store(tmp_path / "kintsugi.db") as store:
        run = store.create_run({}, model="trainer", kind="self-train")
        book = StageBook(store, run)
        result = book.agent_run(1, "eval", tuned, replace(config, ray=cluster, ray_workers=2), {})
        assert _actions(store, result["run_id"]) == local
        stored = store.get_run(result["run_id"])
        assert stored["config"]["adapter"] == str(tmp_path / "a") and stored["config"]["backend"] == "transformers"
        assert book.get(1, "eval")["result"] == {"run_id": result["run_id"]}  # a resume continues this run
        pids = {t.meta["ray_worker_pid"] for t in store.trajectories(result["run_id"])}
    assert os.getpid() not in pids


def test_trees_grown_on_ray_are_the_trees_grown_in_process(cluster, llm, tmp_path):
    """Agent-R's search on Ray (`SearchConfig.ray`): two workers grow the trees with the embedded model, this
    process revises and stores them in task order, and trees and verified records equal an in-process search's."""
    from reflection.mcts import MCTSConfig
    from reflection.mcts_pipeline import SearchConfig, search_and_revise
    from reflection.revision import RevisionConfig
    from reflection.tree_store import TreeStore

    config = SearchConfig(
        env="household", split="train", limit=3, parallel=1,
        mcts=MCTSConfig(iterations=3, expansions=2, max_depth=5, temperature=0.0, max_tokens=24, rollout="expert",
                        admissible="map+fill"),
        revision=RevisionConfig(judge="none", thought="fallback", resolve="expert", max_pairs_per_tree=2),
    )  # fmt: skip
    seen = {}
    for where, cfg in (("local", config), ("ray", replace(config, ray=cluster, ray_workers=2))):
        with Store(tmp_path / f"{where}.db") as store:
            report = search_and_revise(llm, store, cfg)
            grown = [TreeStore(store).load_tree(t.tree_id) for t in report.tasks]
            seen[where] = (
                [[(n.parent, n.action, n.visits, n.value_sum) for n in tree.nodes] for tree in grown],
                [{k: v for k, v in r.items() if k not in ("revision_id", "trajectory_id")} for r in report.sft],
                [tree.stats.get("ray_worker_pid") for tree in grown],
            )
    assert seen["ray"][:2] == seen["local"][:2]
    assert seen["local"][1], "no verified record: the comparison would be empty"
    assert None not in seen["ray"][2] and os.getpid() not in seen["ray"][2]


def test_ttsi_on_ray_gives_the_in_process_report(cluster, llm):
    """`kintsugi tt-si --ray`: two workers, each with its own model, run TT-SI one task at a time (tau = 1: every
    input whose candidates differ is adapted to with a temporary LoRA) and the joined report equals an in-process
    run's on the same inputs, task by task (confidences to rounding: the workers' torch runs on one thread)."""
    from training.ttsi import ttsi_command

    settings = {"env": "code", "suite": "easy", "split": "test", "limit": 2, "tau": 1.0, "k": 1, "epochs": 1}
    local = ttsi_command(**settings, llm=llm)
    on_ray = ttsi_command(**settings, ray=cluster, ray_workers=2)
    timing = {"synthesis_seconds", "train_seconds", "answer_seconds", "adaptation_seconds", "confidence"}

    def decided(report):
        return [{k: v for k, v in row.items() if k not in timing} for row in report["per_input"]]

    assert any(row["uncertain"] for row in local["per_input"]), "nothing adapted: the comparison would be empty"
    assert decided(on_ray) == decided(local)
    assert [r["confidence"] for r in on_ray["per_input"]] == pytest.approx(
        [r["confidence"] for r in local["per_input"]], abs=1e-3
    )
    assert on_ray["base"] == local["base"] and on_ray["adapted"] == local["adapted"]


def test_a_warm_starts_demos_on_ray_are_the_demos_played_in_process(cluster, tmp_path):
    """`warm-start --ray`: the expert plays the demos on the workers (no model loaded there) and the store holds the
    same expert episodes, step for step and with the same seeds, as the demos played in this process."""
    from agents.types import Source
    from training.warm_start import WarmStartConfig, WarmStarter

    def demos(config: WarmStartConfig, where: str) -> tuple[list, set]:
        with Store(tmp_path / f"{where}.db") as store:
            starter = WarmStarter(store, tmp_path / where, config, make_llm=lambda _weights: None)
            result = starter._demos({})
            trajectories = store.trajectories(result["run_id"], status="done")
            assert all(t.source == Source.EXPERT for t in trajectories) and len(trajectories) == config.demos
            played = sorted((t.task_id, t.seed, t.success, [(s.action, s.observation) for s in t.steps])
                            for t in trajectories)  # fmt: skip
            return played, {t.meta.get("ray_worker_pid") for t in trajectories}

    config = WarmStartConfig(env="household", demos=6)
    here, _ = demos(config, "here")
    on_ray, pids = demos(replace(config, ray=cluster, ray_workers=2), "ray")
    assert on_ray == here and any(success for _t, _s, success, _steps in here)
    assert None not in pids and os.getpid() not in pids
