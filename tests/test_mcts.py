"""MCTS over agent actions: UCT maths, candidate actions, snapshot/replay determinism, persistence and views.

An LLM is not under test here, so the policy is `SeededAdmissiblePolicy`: the LLM protocol's `generate`
answering with admissible actions of a live household env drawn by a seeded RNG.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agents.store import Store
from agents.types import CandidateScore, Completion, Messages
from environments.base import get_entry
from environments.household import HouseholdEnv, load_tasks
from reflection.mcts import MCTS, EnvDriver, MCTSConfig, Tree, propose, select_child, uct
from reflection.tree_store import TreeStore, tree_to_json
from reflection.tree_view import render_tree, tree_html, write_tree_html

ENTRY = get_entry("household")


class SeededAdmissiblePolicy:
    """Stand-in for an LLM: each reply is an admissible action of `env`'s current state, drawn by a seeded RNG."""

    model_id = "seeded-admissible-policy"
    adapter = None

    def __init__(self, env: HouseholdEnv, seed: int = 0) -> None:
        self.env = env
        self.rng = random.Random(seed)
        self.calls = 0

    def generate(self, messages: Messages, *, n: int = 1, **_: Any) -> list[Completion]:
        self.calls += 1
        actions = [a for a in self.env.admissible_actions() if a != "help"]
        return [Completion(text=self.rng.choice(actions), token_logprobs=(-1.0,)) for _ in range(n)]

    def generate_batch(self, conversations: Sequence[Messages], **kw: Any) -> list[list[Completion]]:
        return [self.generate(m, **kw) for m in conversations]

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        return [CandidateScore(nll=float(i), num_tokens=1) for i, _ in enumerate(candidates)]

    def with_adapter(self, path: str | None) -> SeededAdmissiblePolicy:
        return self


class ScriptedReplies:
    """Stand-in for an LLM that returns fixed reply texts (to pin how replies become candidate actions)."""

    model_id = "scripted"
    adapter = None

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def generate(self, messages: Messages, *, n: int = 1, **_: Any) -> list[Completion]:
        return [Completion(text=t) for t in self.texts[:n]]


def _task(index: int = 0) -> Any:
    return load_tasks(split="train", limit=index + 1)[index]


def test_uct_visits_unvisited_children_first_then_maximises_q_plus_exploration() -> None:
    tree = Tree(id="t", task_id="x", env="household", system_prompt="", initial_observation="")
    root = tree.root
    kids = [tree.add_child(root, action=f"a{i}") for i in range(3)]
    root.visits = 10
    kids[0].visits, kids[0].value_sum = 5, 3.0
    assert select_child(tree, root, 0.25) is kids[1]  # the first unvisited child, whatever the others' values
    kids[1].visits, kids[1].value_sum = 4, 1.0
    assert select_child(tree, root, 0.25) is kids[2]
    kids[2].visits, kids[2].value_sum = 1, 0.0
    assert uct(0.0, 0, 10, 0.25) == math.inf
    expected = [w / n + 0.25 * math.sqrt(math.log(10) / n) for w, n in [(3, 5), (1, 4), (0, 1)]]
    assert [uct(k.value_sum, k.visits, 10, 0.25) for k in kids] == pytest.approx(expected)
    assert select_child(tree, root, 0.25) is kids[0]  # exploitation: 0.6 + 0.17 beats 0.25 + 0.19 and 0 + 0.38
    assert select_child(tree, root, 2.0) is kids[2]  # a large c favours the least-visited child: 0 + 3.03
    assert expected[0] == pytest.approx(0.6 + 0.25 * math.sqrt(math.log(10) / 5))


def test_propose_maps_replies_onto_admissible_actions_dedupes_drops_and_fills() -> None:
    env = HouseholdEnv(_task(0))
    _, info = env.reset()
    texts = ["go to cabinet 1", "> Go to  Cabinet 1", "go to cabinet1", "xyzzy plugh", "think: where is it"]
    llm = ScriptedReplies(texts)
    cands = propose(llm, [], info, ENTRY, MCTSConfig(expansions=5, admissible="map"), seed=1)  # type: ignore[arg-type]
    assert [(c.action, c.origin) for c in cands] == [("go to cabinet 1", "model")]
    cands = propose(llm, [], info, ENTRY, MCTSConfig(expansions=5, admissible="map+fill"), seed=1)  # type: ignore[arg-type]
    assert len(cands) == 5 and len({c.action for c in cands}) == 5
    assert all(c.action in info["admissible_actions"] for c in cands)
    assert [c.origin for c in cands] == ["model", "fill", "fill", "fill", "fill"]
    raw = propose(llm, [], info, ENTRY, MCTSConfig(expansions=5, admissible="off", allow_thoughts=True), seed=1)  # type: ignore[arg-type]
    assert [c.action for c in raw] == ["go to cabinet 1", "go to cabinet1", "xyzzy plugh", "think: where is it"]
    assert (
        propose(
            ScriptedReplies(["go to cabinet 1"]), [], info, ENTRY, MCTSConfig(), seed=1, exclude=["go to cabinet 1"]
        )
        == []
    )  # type: ignore[arg-type]


def _search(task: Any, config: MCTSConfig, seed: int = 3) -> Tree:
    env = HouseholdEnv(task)
    policy = SeededAdmissiblePolicy(env, seed)
    mcts = MCTS(policy, ENTRY, config)  # type: ignore[arg-type]
    tree = mcts.new_tree("tree-test", task, env, seed=None)
    return mcts.search(tree, env)


def test_snapshot_and_replay_rebuild_identical_states() -> None:
    task = _task(2)
    config = MCTSConfig(iterations=12, expansions=3, max_depth=4, rollout="random")
    by_snapshot = _search(task, config)
    by_replay = _search(task, MCTSConfig(**{**asdict(config), "use_snapshots": False}))
    assert by_snapshot.stats["restores"] > 0 and by_snapshot.stats["replays"] == 0
    assert by_replay.stats["replays"] > 0 and by_replay.stats["restores"] == 0
    assert [asdict(n) for n in by_snapshot.nodes] == [asdict(n) for n in by_replay.nodes]
    assert len(by_snapshot.nodes) > 10
    env_a, env_b = HouseholdEnv(task), HouseholdEnv(task)
    snap, replay = EnvDriver(env_a, None, True), EnvDriver(env_b, None, False)
    snap.start(by_snapshot)
    for node in by_snapshot.nodes[1:]:
        snap.goto(by_snapshot, by_snapshot.nodes[node.parent])  # type: ignore[index]
        *_, info = env_a.step(node.action)
        snap.remember(node, info)
    order = list(by_snapshot.nodes)
    random.Random(0).shuffle(order)
    for node in order:
        info_a, info_b = snap.goto(by_snapshot, node), replay.goto(by_snapshot, node)
        assert env_a.world.signature() == env_b.world.signature()
        assert (env_a.steps, env_a.won) == (env_b.steps, env_b.won)
        assert info_a["admissible_actions"] == info_b["admissible_actions"]
        assert env_a.step("look") == env_b.step("look")


def test_search_values_are_terminal_rewards_and_visits_add_up() -> None:
    tree = _search(_task(0), MCTSConfig(iterations=6, expansions=3, max_depth=8, rollout="expert"))
    assert tree.success
    root = tree.root
    assert root.visits == 6
    assert sum(tree.nodes[c].visits for c in root.children) == 6
    for node in tree.nodes:
        assert 0.0 <= node.q <= 1.0
        assert node.depth <= 8
    assert {n.origin for n in tree.nodes} >= {"root", "model", "rollout-expert"}


def test_tree_is_persisted_and_exported_to_json_terminal_and_html(tmp_path: Path) -> None:
    tree = _search(_task(0), MCTSConfig(iterations=5, expansions=2, max_depth=8, rollout="expert"))
    store_path = tmp_path / "kintsugi.db"
    with Store(store_path) as store:
        trees = TreeStore(store)
        trees.save_tree(tree, run_id=None)
        trees.save_tree(tree, run_id=None)  # saving again replaces, never duplicates
        loaded = trees.load_tree(tree.id)
        assert trees.trees()[0]["nodes"] == len(tree.nodes)
    assert tree_to_json(loaded) == tree_to_json(tree)
    data = tree_to_json(loaded)
    assert data["success"] and data["taken_path"] and data["nodes"][0]["children"]
    console = Console(record=True, width=200)
    console.print(render_tree(loaded))
    text = console.export_text()
    assert "(root)" not in text and tree.nodes[1].action in text and "N=" in text
    page = tree_html(loaded)
    assert page.count("<details") == len(tree.nodes) and "http" not in page and "<script src" not in page
    assert "taken" in page and "success" in page
    out = write_tree_html(store_path, tree.id)
    assert out.read_text() == page


@pytest.mark.slow
def test_embedded_model_search_and_revise_on_a_household_task(llm: Any, tmp_path: Path) -> None:
    from environments.household.prompts import INSTRUCTIONS
    from reflection.mcts_pipeline import SearchConfig, search_and_revise
    from reflection.revision import RevisionConfig

    config = SearchConfig(
        env="household",
        split="train",
        limit=1,
        mcts=MCTSConfig(
            iterations=2, expansions=2, max_depth=3, max_tokens=10, system_prompt=INSTRUCTIONS, admissible="map+fill"
        ),
        revision=RevisionConfig(resolve="expert"),
    )
    with Store(tmp_path / "kintsugi.db") as store:
        report = search_and_revise(llm, store, config, out_dir=tmp_path)
        tree = TreeStore(store).load_tree(report.tasks[0].tree_id)
        rows = TreeStore(store).revisions(report.run_id)
    summary = report.summary()
    assert summary["trees"] == 1 and summary["llm_calls"] >= 1
    assert tree.root.expanded and tree.root.visits == 2 and len(tree.root.children) == 2
    sampled = [n for n in tree.nodes if n.origin in ("model", "mapped")]
    assert all(n.info["sampled"] is not None for n in sampled)
    assert all(n.origin in ("root", "model", "mapped", "fill") for n in tree.nodes)
    assert summary["verified_revisions"] == len(report.sft) == sum(r.status == "verified" for r in rows)


def test_a_policy_that_thinks_keeps_its_thoughts_in_rollouts_and_expansions() -> None:
    """A thought is the policy's move: `map+fill` tops expansions up with admissible actions and takes a random one
    for a reply it cannot map, but never in place of a thought (that made a thinking warm start's rollouts random)."""
    task = _task()
    env = HouseholdEnv(task)
    thinker = ScriptedReplies(["think: first I look around."])
    config = MCTSConfig(iterations=1, expansions=3, max_depth=4, rollout="llm", admissible="map+fill",
                        allow_thoughts=True)  # fmt: skip
    mcts = MCTS(thinker, ENTRY, config)  # type: ignore[arg-type]
    tree = mcts.search(mcts.new_tree("tree-test", task, env, seed=0), env)
    children = [tree.nodes[c] for c in tree.root.children]
    assert [c.origin for c in children] == ["model", "fill", "fill"]
    assert children[0].action == "think: first i look around."  # actions are lower-cased
    rollout = [n for n in tree.nodes if n.origin == "rollout-llm"]
    assert rollout and all(n.action == children[0].action for n in rollout)
