"""Revision trajectories: the pairing rule, verified splices (built deterministically in the household env),
export formats, and that nothing unverified reaches the exported training data.

The LLM is not under test here (judge `none`, fallback thoughts), so no model is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.store import Store
from agents.types import Source
from environments.base import get_entry
from environments.household import HouseholdEnv, expert_plan, load_tasks
from reflection.mcts import MCTSConfig, Tree
from reflection.mcts_pipeline import SearchConfig, search_and_revise
from reflection.revision import (
    Pair,
    Reviser,
    RevisionConfig,
    SpliceStep,
    export_records,
    find_pairs,
    is_pair,
    replay_splice,
    write_records,
)
from reflection.tree_store import TreeStore

ENTRY = get_entry("household")
TASK = load_tasks(split="train", limit=1)[0]  # "put some bowl on diningtable."; the bowl is in (closed) cabinet 1
GOOD = ["go to cabinet 1", "open cabinet 1", "take bowl 1 from cabinet 1", "go to diningtable 1"]
GOOD += ["move bowl 1 to diningtable 1"]
BAD_RECOVERABLE = [*GOOD[:3], "go to sofa 1", "look"]  # parts at step 3, still holding the bowl
BAD_PUT_BACK = [*GOOD[:3], "move bowl 1 to cabinet 1", "look"]  # parts at step 3 and puts the bowl back


class NoLLM:
    """Stand-in that fails loudly: these tests must not consult a model."""

    model_id = "none"
    adapter = None

    def generate(self, *a: Any, **k: Any) -> Any:
        raise AssertionError("no model call expected")

    score = generate_batch = generate


def grow(tree: Tree, actions: list[str]) -> int:
    """Walk `actions` from the root in a fresh env, adding nodes that are missing; returns the last node's id."""
    env = HouseholdEnv(TASK)
    env.reset()
    node = tree.root
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        found = next((tree.nodes[c] for c in node.children if tree.nodes[c].action == action), None)
        if found is None:
            found = tree.add_child(
                node,
                action=action,
                model_output=action,
                observation=obs,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                origin="model",
            )
        node = found
    return node.id


def hand_tree() -> tuple[Tree, dict[str, int]]:
    assert expert_plan(HouseholdEnv(TASK)) == GOOD
    env = HouseholdEnv(TASK)
    obs, _ = env.reset()
    tree = Tree(
        id="tree-hand",
        task_id=TASK.task_id,
        env="household",
        system_prompt="You are an agent.",
        initial_observation=obs,
        config={"max_depth": 5},
    )
    leaves = {
        "good": grow(tree, GOOD),
        "recoverable": grow(tree, BAD_RECOVERABLE),
        "put_back": grow(tree, BAD_PUT_BACK),
    }
    return tree, leaves


def reviser(resolve: str = "none") -> Reviser:
    def make_env() -> HouseholdEnv:
        return HouseholdEnv(TASK)

    config = RevisionConfig(judge="none", thought="fallback", resolve=resolve)
    return Reviser(NoLLM(), ENTRY, make_env, config, MCTSConfig())  # type: ignore[arg-type]


def test_pairing_rule_compares_values_as_numbers_against_alpha_and_beta() -> None:
    assert is_pair(1.0, 0.0, 0.5, 0.25)
    assert not is_pair(0.5, 0.0, 0.5, 0.25)  # good must exceed alpha strictly
    assert not is_pair(1.0, 0.8, 0.5, 0.25)  # gap 0.2 is not above beta
    assert is_pair("10", "9", "9.5", "0.5")  # as text "10" < "9.5" and "10" < "9"; as numbers it is a pair
    assert not is_pair("9", "1", "10", "0.5")  # as text "9" > "10"; as numbers 9 < 10
    tree, leaves = hand_tree()
    pairs = find_pairs(tree, alpha=0.5, beta=0.25)
    assert {(p.bad, p.good, p.divergence) for p in pairs} == {
        (leaves["recoverable"], leaves["good"], 3),
        (leaves["put_back"], leaves["good"], 3),
    }
    assert all(p.good_value == 1.0 and p.bad_value == 0.0 for p in pairs)
    assert find_pairs(tree, alpha=1.0, beta=0.25) == []  # 1.0 is not above alpha=1.0
    assert find_pairs(tree, alpha=0.5, beta=1.0) == []  # a gap of 1.0 is not above beta=1.0
    tree.config["max_depth"] = 6
    assert find_pairs(tree) == []  # failed paths that have not ended yet are not failures


def test_splice_is_verified_when_the_good_actions_still_work_after_the_bad_prefix() -> None:
    tree, leaves = hand_tree()
    out = reviser().revise_pair(tree, Pair(leaves["recoverable"], leaves["good"], 3, 0.0, 1.0))
    row = out.row
    assert row.status == "verified" and row.continuation == "good_path" and row.cut == 3
    assert out.revised is not None and out.revised.success and out.revised.source is Source.REVISED
    actions = [s.action for s in out.revised.steps]
    assert actions[:4] == BAD_RECOVERABLE[:4]
    assert actions[4].startswith("think: ") and "go to sofa 1" in actions[4]
    assert actions[5:] == GOOD[3:]
    assert [s.info["part"] for s in out.revised.steps] == ["prefix"] * 4 + ["thought"] + ["continuation"] * 2
    assert out.revised.meta["completion_start"] == 4


def test_splice_whose_good_actions_are_invalid_after_the_bad_prefix_is_rejected_or_researched() -> None:
    tree, leaves = hand_tree()
    pair = Pair(leaves["put_back"], leaves["good"], 3, 0.0, 1.0)
    # Released Agent-R would append GOOD[3:] to the bad prefix; in the real state the bowl is back in the cabinet.
    naive = replay_splice(
        HouseholdEnv(TASK),
        None,
        [SpliceStep(a, a, "prefix") for a in BAD_PUT_BACK[:4]] + [SpliceStep(a, a) for a in GOOD[3:]],
    )
    assert not naive.success and naive.invalid_at == 5 and "move bowl 1 to diningtable 1" in naive.error
    rejected = reviser("none").revise_pair(tree, pair)
    assert rejected.row.status == "rejected" and rejected.revised is None
    assert "'move bowl 1 to diningtable 1' is not valid" in rejected.row.reason
    resolved = reviser("expert").revise_pair(tree, pair)
    assert resolved.row.status == "verified" and resolved.row.continuation == "expert"
    assert resolved.revised is not None and resolved.revised.success
    tail = [s.action for s in resolved.revised.steps[5:]]
    assert tail == ["take bowl 1 from cabinet 1", "go to diningtable 1", "move bowl 1 to diningtable 1"]


def test_splice_is_rejected_when_the_stored_prefix_does_not_replay() -> None:
    tree, leaves = hand_tree()
    prefix_node = tree.path(tree.nodes[leaves["put_back"]])[1]
    prefix_node.observation = "a different world"
    out = reviser("expert").revise_pair(tree, Pair(leaves["put_back"], leaves["good"], 3, 0.0, 1.0))
    assert out.row.status == "rejected" and "does not replay" in out.row.reason


def test_export_has_trl_formats_provenance_and_only_verified_revisions(tmp_path: Path) -> None:
    tree, _ = hand_tree()
    with Store(tmp_path / "kintsugi.db") as store:
        run_id = store.create_run({}, kind="search")
        TreeStore(store).save_tree(tree, run_id)
        outcomes = reviser("none").revise(tree, store=store, run_id=run_id)
        rows = TreeStore(store).revisions(run_id)
        assert sorted(r.status for r in rows) == ["rejected", "verified"]
        verified = next(r for r in rows if r.status == "verified")
        rejected = next(r for r in rows if r.status == "rejected")
        assert rejected.reason and rejected.revised_trajectory_id is None and rejected.bad_trajectory_id
        revised = store.get_trajectory(verified.revised_trajectory_id)  # type: ignore[arg-type]
        bad = store.get_trajectory(verified.bad_trajectory_id)  # type: ignore[arg-type]
        assert revised.source is Source.REVISED and revised.parent_id == bad.id and revised.success
        assert bad.source is Source.SAMPLED and not bad.success and bad.meta["tree_id"] == tree.id
        assert len(store.trajectories(run_id, source=Source.REVISED)) == 1
        sft, dpo = export_records(store, run_id)
        paths = write_records(store, tmp_path / "data", run_id)
    assert len(outcomes) == 2
    assert [r["revision_id"] for r in sft] == [verified.id] == [r["revision_id"] for r in dpo]
    rec = sft[0]
    assert set(rec) == {"prompt", "completion", "revision_id"}
    prompt_assistant = [m["content"] for m in rec["prompt"] if m["role"] == "assistant"]
    assert prompt_assistant == BAD_RECOVERABLE[:4]
    assert rec["prompt"][-1]["role"] == "user" and rec["completion"][0]["role"] == "assistant"
    completion_text = json.dumps(rec["completion"])
    assert rec["completion"][0]["content"].startswith("think: ")
    assert "sofa" not in completion_text.replace(rec["completion"][0]["content"], "")  # only the thought names it
    assert not any(m in rec["completion"] for m in rec["prompt"][2:])
    assert [m["content"] for m in rec["completion"] if m["role"] == "assistant"][1:] == GOOD[3:]
    assert rec["completion"][-1]["role"] == "assistant"
    pref = dpo[0]
    assert set(pref) == {"prompt", "chosen", "rejected", "revision_id"}
    assert [m["content"] for m in pref["prompt"] if m["role"] == "assistant"] == GOOD[:3]
    assert pref["prompt"][-1]["role"] == "user"
    assert pref["chosen"] == [{"role": "assistant", "content": "go to diningtable 1"}]
    assert pref["rejected"] == [{"role": "assistant", "content": "go to sofa 1"}]
    lines = paths["sft"].read_text().splitlines()
    assert [json.loads(x) for x in lines] == sft and len(paths["dpo"].read_text().splitlines()) == 1


def test_rejected_rows_never_reach_export_even_with_a_trajectory_attached(tmp_path: Path) -> None:
    tree, _ = hand_tree()
    with Store(tmp_path / "kintsugi.db") as store:
        run_id = store.create_run({}, kind="search")
        TreeStore(store).save_tree(tree, run_id)
        reviser("expert").revise(tree, store=store, run_id=run_id)
        rows = TreeStore(store).revisions(run_id)
        assert [r.status for r in rows] == ["verified", "verified"]
        assert sorted(r.continuation for r in rows) == ["expert", "good_path"]
        TreeStore(store).save_tree(tree, run_id)  # saving a tree again keeps the revisions that name it
        assert len(TreeStore(store).revisions(run_id)) == 2
        model_only, _ = export_records(store, run_id, continuations=("good_path", "mcts"))
        assert [r["revision_id"] for r in model_only] == [r.id for r in rows if r.continuation == "good_path"]
        store.db.execute("UPDATE tree_revisions SET status = 'rejected' WHERE id = ?", (rows[0].id,))
        sft, dpo = export_records(store, run_id)
    assert [r["revision_id"] for r in sft] == [rows[1].id] == [r["revision_id"] for r in dpo]


def test_revision_config_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="resolve"):
        RevisionConfig(resolve="guess")
    with pytest.raises(ValueError, match="judge"):
        RevisionConfig(judge="vibes")


class UnparseableReplies:
    """Stand-in LLM whose replies never name a command, so every child comes from the seeded admissible fill."""

    model_id = "unparseable-replies"
    adapter = None

    def generate(self, messages: Any, *, n: int = 1, **_: Any) -> list[Any]:
        from agents.types import Completion

        return [Completion(text="xyzzy") for _ in range(n)]


def test_search_and_revise_stores_trees_and_revisions_and_returns_verified_records(tmp_path: Path) -> None:
    config = SearchConfig(
        env="household",
        split="train",
        limit=1,
        mcts=MCTSConfig(iterations=10, expansions=3, max_depth=6, rollout="expert", admissible="map+fill"),
        revision=RevisionConfig(judge="none", thought="fallback", resolve="expert", max_pairs_per_tree=3),
    )
    seen = []
    with Store(tmp_path / "kintsugi.db") as store:
        report = search_and_revise(UnparseableReplies(), store, config, out_dir=tmp_path, on_task=seen.append)  # type: ignore[arg-type]
        summary = report.summary()
        trees = TreeStore(store)
        tree = trees.load_tree(report.tasks[0].tree_id)
        rows = trees.revisions(report.run_id)
        run = store.get_run(report.run_id)
    assert seen == report.tasks and summary["trees"] == 1 and tree.success
    assert summary["pairs"] == len(rows) >= 1
    assert summary["verified_revisions"] == sum(r.status == "verified" for r in rows) == len(report.sft)
    assert summary["rejected_splices"] == sum(r.status == "rejected" for r in rows)
    assert {r["revision_id"] for r in report.sft} == {r.id for r in rows if r.status == "verified"}
    assert run["kind"] == "search" and run["metrics"]["verified_revisions"] == summary["verified_revisions"]
    assert Path(summary["files"]["sft"]).read_text().count("\n") == len(report.sft)
    assert summary["llm_calls"] == report.tasks[0].llm_calls > 0


class SeededAdmissiblePolicy:
    """Stand-in LLM for the continuation search: replies are admissible actions of `env`, drawn by a seeded RNG."""

    model_id = "seeded-admissible-policy"
    adapter = None

    def __init__(self, env: HouseholdEnv, seed: int = 0) -> None:
        import random

        self.env = env
        self.rng = random.Random(seed)

    def generate(self, messages: Any, *, n: int = 1, **_: Any) -> list[Any]:
        from agents.types import Completion

        actions = [a for a in self.env.admissible_actions() if a != "help"]
        return [Completion(text=self.rng.choice(actions)) for _ in range(n)]


def test_invalid_good_path_is_re_searched_from_the_real_state_and_the_search_tree_is_stored(tmp_path: Path) -> None:
    tree, leaves = hand_tree()
    env = HouseholdEnv(TASK)
    config = RevisionConfig(judge="none", thought="fallback", resolve="mcts", max_pairs_per_tree=2)
    search = MCTSConfig(iterations=6, expansions=2, max_depth=6, rollout="expert")
    rev = Reviser(SeededAdmissiblePolicy(env), ENTRY, lambda: env, config, search)  # type: ignore[arg-type]
    with Store(tmp_path / "kintsugi.db") as store:
        run_id = store.create_run({}, kind="search")
        trees = TreeStore(store)
        trees.save_tree(tree, run_id)
        rev.revise(tree, store=store, run_id=run_id)
        row = next(r for r in trees.revisions(run_id) if r.bad_node == leaves["put_back"])
        sub = trees.load_tree(row.details["continuation_tree_id"])
        revised = store.get_trajectory(row.revised_trajectory_id)  # type: ignore[arg-type]
    assert row.status == "verified" and row.continuation == "mcts" and "good_path" in row.details
    assert sub.kind == "continuation" and sub.parent_tree == tree.id and sub.success
    assert [p["action"] for p in sub.prefix][:4] == BAD_PUT_BACK[:4] and sub.prefix[4]["action"].startswith("think:")
    assert revised.success and [s.action for s in revised.steps][:4] == BAD_PUT_BACK[:4]
    assert len(row.details["continuation_origins"]) == len(revised.steps) - 5


@pytest.mark.slow
def test_embedded_model_judges_writes_the_thought_and_the_splice_is_still_verified(llm: Any) -> None:
    tree, leaves = hand_tree()
    assert find_pairs(tree, max_pairs=1)[0].bad == leaves["recoverable"]
    config = RevisionConfig(judge="score", thought="model", resolve="none", max_pairs_per_tree=1)
    rev = Reviser(llm, ENTRY, lambda: HouseholdEnv(TASK), config, MCTSConfig())
    (out,) = rev.revise(tree)
    row = out.row
    judged = row.details["judgements"]
    assert judged and judged[0]["index"] == 3 and set(judged[0]["nll"]) == {"Good", "Bad", "Uncertain"}
    assert row.first_error_source in ("model", "divergence") and row.cut in (3, 4)
    assert row.thought_source in ("model", "fallback") and row.thought
    assert row.status == "verified" and out.revised is not None and out.revised.success
    thought_step = out.revised.steps[row.cut + 1]
    assert thought_step.action == "think: " + row.thought and thought_step.observation == "OK."


def test_trees_searched_in_parallel_give_what_one_at_a_time_gives(tmp_path: Path) -> None:
    """`SearchConfig.parallel` searches trees in threads (what a vLLM server's batching wants) while this thread
    revises and stores them in task order: the trees, the verified records and the per-task call counts are those
    of a search one tree at a time."""
    from dataclasses import replace

    config = SearchConfig(
        env="household", split="train", limit=4, parallel=1,
        mcts=MCTSConfig(iterations=6, expansions=3, max_depth=6, rollout="expert", admissible="map+fill"),
        revision=RevisionConfig(judge="none", thought="fallback", resolve="expert", max_pairs_per_tree=2),
    )  # fmt: skip
    reports = {}
    for parallel in (1, 4):
        with Store(tmp_path / f"p{parallel}.db") as store:
            report = search_and_revise(UnparseableReplies(), store, replace(config, parallel=parallel))  # type: ignore[arg-type]
            trees = TreeStore(store)
            shapes = [[(n.parent, n.action, n.value_sum, n.visits) for n in trees.load_tree(t.tree_id).nodes]
                      for t in report.tasks]  # fmt: skip
            reports[parallel] = (
                [(t.task_id, t.success, t.nodes, t.pairs, t.verified, t.llm_calls) for t in report.tasks],
                shapes,
                [{k: v for k, v in r.items() if k not in ("revision_id", "trajectory_id")} for r in report.sft],
                report.llm_calls,
            )
    assert reports[4] == reports[1]
    assert sum(t[4] for t in reports[1][0]) >= 1  # something was verified, so the records compared are not empty


def test_an_interrupted_search_keeps_its_revised_trees_and_searches_only_the_rest(tmp_path: Path, monkeypatch) -> None:
    """A search cut short inside a tree's revision (after its first splice was stored) and resumed by its run id
    ends with what an uninterrupted search ends with: the trees revised to the end are kept, not searched again;
    the cut tree's splice and trajectories are abandoned (never exported) and its task is searched again."""
    from reflection.mcts_pipeline import new_search_run

    config = SearchConfig(
        env="household", split="train", limit=4, parallel=1,
        mcts=MCTSConfig(iterations=10, expansions=3, max_depth=6, rollout="expert", admissible="map+fill"),
        revision=RevisionConfig(judge="none", thought="fallback", resolve="expert", max_pairs_per_tree=2),
    )  # fmt: skip

    def outcome(report: Any) -> Any:
        tasks = [
            (t.task_id, t.success, t.nodes, t.pairs, t.verified, t.continuations, t.llm_calls) for t in report.tasks
        ]
        sft = [{k: v for k, v in r.items() if k not in ("revision_id", "trajectory_id")} for r in report.sft]
        return tasks, sft, report.llm_calls

    with Store(tmp_path / "whole.db") as store:
        whole = search_and_revise(UnparseableReplies(), store, config)  # type: ignore[arg-type]
    cut = next(i for i, t in enumerate(whole.tasks) if i > 0 and t.pairs >= 1)  # a later tree with a splice
    stored: list[str] = []
    add_revision = TreeStore.add_revision

    def add_then_die(self: TreeStore, row: Any) -> None:
        add_revision(self, row)
        stored.append(row.id)
        if len(stored) == sum(t.pairs for t in whole.tasks[:cut]) + 1:
            raise KeyboardInterrupt  # as a kill would: one splice of this tree is stored, the rest are not

    with Store(tmp_path / "cut.db") as store:
        run_id = new_search_run(store, UnparseableReplies(), config)  # type: ignore[arg-type]
        monkeypatch.setattr(TreeStore, "add_revision", add_then_die)
        with pytest.raises(KeyboardInterrupt):
            search_and_revise(UnparseableReplies(), store, config, run_id=run_id)  # type: ignore[arg-type]
        monkeypatch.undo()
        searched: list[Any] = []
        resumed = search_and_revise(UnparseableReplies(), store, config, run_id=run_id, on_task=searched.append)  # type: ignore[arg-type]
        trees = TreeStore(store)
        abandoned = [r for r in trees.revisions(run_id) if r.status == "abandoned"]
        stale = {
            store.get_trajectory(t).status
            for r in abandoned
            for t in (r.bad_trajectory_id, r.revised_trajectory_id)
            if t
        }
        stored_trees = trees.trees(run_id)
    assert outcome(resumed) == outcome(whole)
    assert [t.task_id for t in searched] == [t.task_id for t in whole.tasks[cut:]]
    assert [r.task_id for r in abandoned] == [whole.tasks[cut].task_id] and stale == {"abandoned"}
    assert len(stored_trees) == len(whole.tasks) + 1  # the cut tree stays on record, beside its regrown one
