"""The Agent-R loop: search -> verified revisions -> LoRA SFT -> held-out evaluation, resumable by stage.

The embedded model solves almost no household task, so the searches here get their successes from the expert
rollout (`rollout="expert"`) and their candidate actions from the admissible fill, as in tests/test_revision.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from agents.store import Store
from agents.types import Completion, Messages, Source
from reflection.tree_store import TreeStore
from training.agent_r import AgentRConfig, AgentRTrainer

FAST = dict(
    limit=1,
    eval_limit=1,
    eval_max_steps=2,
    search_iterations=10,
    expansions=3,
    max_depth=6,
    rollout="expert",
    admissible="map+fill",
    judge="none",
    thought="fallback",
    resolve="expert",
    max_pairs_per_tree=3,
    epochs=1.0,
)


class UnparseableReplies:
    """Stand-in LLM whose replies name no command: search children come from the seeded admissible fill."""

    model_id = "unparseable-replies"

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter

    def generate(self, messages: Messages, *, n: int = 1, **_: Any) -> list[Completion]:
        return [Completion(text="xyzzy") for _ in range(n)]

    def generate_batch(self, conversations: Sequence[Messages], *, n: int = 1, **_: Any) -> list[list[Completion]]:
        return [self.generate(m, n=n) for m in conversations]

    def with_adapter(self, path: str | None) -> UnparseableReplies:
        return UnparseableReplies(path)


class Interrupted(Exception):
    """Raised by a test's `on_stage` to stop a run where an interruption would."""


def interrupt_at(stage: str, seen: list[tuple[int, str]] | None = None) -> Any:
    def on_stage(iteration: int, name: str, state: str) -> None:
        if state == "start":
            if seen is not None:
                seen.append((iteration, name))
            if name == stage:
                raise Interrupted(name)

    return on_stage


def test_config_checks_its_modes_and_comes_back_from_its_stored_form() -> None:
    with pytest.raises(ValueError, match="rollout"):
        AgentRConfig(rollout="guess")
    with pytest.raises(ValueError, match="resolve"):
        AgentRConfig(resolve="oracle")
    with pytest.raises(ValueError, match="continuations"):
        AgentRConfig(continuations=("oracle",))
    config = AgentRConfig(continuations=("good_path", "mcts"), target_modules=("q_proj",), **FAST)  # type: ignore[arg-type]
    assert AgentRConfig.from_dict(json.loads(json.dumps(asdict(config)))) == config
    assert config.eval_config().split == "valid_unseen" and config.eval_config().temperature == 0.0
    assert config.search_config(2).seed == config.search_config(2).mcts.seed == 2000


def test_sft_set_holds_only_environment_verified_revisions_with_their_provenance(tmp_path: Path) -> None:
    config = AgentRConfig(**FAST)  # type: ignore[arg-type]
    seen: list[tuple[int, str]] = []
    with Store(tmp_path / "kintsugi.db") as store:
        trainer = AgentRTrainer(
            store, tmp_path, config, UnparseableReplies().with_adapter, on_stage=interrupt_at("train", seen)
        )
        with pytest.raises(Interrupted):
            trainer.run()
        search = trainer.stages.get(1, "search")["result"]  # type: ignore[index]
        dataset = trainer.stages.get(1, "dataset")["result"]  # type: ignore[index]
        records = [json.loads(line) for line in Path(dataset["sft"]).read_text().splitlines()]
        rows = {r.id: r for r in TreeStore(store).revisions(search["run_id"])}
        listed = store.db.execute("SELECT kind, size, trajectory_ids FROM datasets WHERE run_id = ?", (trainer.run_id,))
        kind, size, trajectory_ids = listed.fetchone()
        revised = [store.get_trajectory(r["trajectory_id"]) for r in records]
        parents = [store.get_trajectory(r["parent_id"]) for r in records]
        assert trainer.stages.get(1, "train") is None
    assert seen == [(0, "eval"), (1, "search"), (1, "dataset"), (1, "train")]
    assert 1 <= len(records) == dataset["sft_size"] == dataset["new_sft_records"] <= search["verified_revisions"]
    assert (kind, size, json.loads(trajectory_ids)) == ("agent_r_sft", len(records), [r.id for r in revised])
    for rec, traj, parent in zip(records, revised, parents, strict=True):
        row = rows[rec["revision_id"]]
        assert row.status == "verified" and row.revised_trajectory_id == traj.id and row.bad_trajectory_id == parent.id
        assert traj.source is Source.REVISED and traj.success and traj.parent_id == parent.id
        assert traj.meta["revision_id"] == row.id and not parent.success
        assert set(rec) >= {"prompt", "completion"} and rec["source"] == "revised"
        assert rec["completion"][0]["content"].startswith("think: ") and rec["prompt"][-1]["role"] == "user"
    rejected = {r.revised_trajectory_id for r in rows.values() if r.status != "verified"}
    assert not rejected & {r["trajectory_id"] for r in records}


def test_each_iteration_searches_with_the_previous_adapter_and_trains_on_all_revisions_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[int] = []

    def fake_train(self: AgentRTrainer, iteration: int, data: str) -> dict[str, Any]:
        trained.append(len(Path(data).read_text().splitlines()))
        return {"adapter": f"adapter-{iteration}", "adapter_id": None, "metrics": {"train_loss": 0.5}}

    monkeypatch.setattr(AgentRTrainer, "_train", fake_train)
    asked: list[str | None] = []

    def make_llm(adapter: str | None) -> UnparseableReplies:
        asked.append(adapter)
        return UnparseableReplies(adapter)

    with Store(tmp_path / "kintsugi.db") as store:
        report = AgentRTrainer(store, tmp_path, AgentRConfig(iterations=2, **FAST), make_llm).run()  # type: ignore[arg-type]
        searches = [store.get_run(r["search_run_id"]) for r in report["iterations"][1:]]
    assert asked == [None, None, "adapter-1", "adapter-1", "adapter-2"]  # eval 0, search 1, eval 1, search 2, eval 2
    assert [s["adapter"] for s in searches] == [None, "adapter-1"]
    first, second = report["iterations"][1:]
    assert second["sft_size"] == first["sft_size"] + second["new_sft_records"] and second["new_sft_records"] >= 1
    assert trained == [first["sft_size"], second["sft_size"]] and second["train_loss"] == 0.5


def test_an_iteration_without_verified_revisions_stops_the_loop_with_a_warning(tmp_path: Path) -> None:
    config = AgentRConfig(iterations=2, alpha=1.0, **FAST)  # type: ignore[arg-type]  # no path is worth more than 1
    with Store(tmp_path / "kintsugi.db") as store:
        report = AgentRTrainer(store, tmp_path, config, UnparseableReplies().with_adapter).run()
        run = store.get_run(report["run_id"])
    base, first = report["iterations"]
    assert base["eval_success_rate"] == 0.0 and len(base["eval_ci95"]) == 2 and base["trees"] is None
    assert first["trees"] == 1 and first["pairs"] == first["verified_revisions"] == 0 and first["sft_size"] == 0
    assert first["adapter"] is None and first["eval_success_rate"] is None
    assert set(first["stage_seconds"]) == {"search", "dataset"}
    assert "no splice was verified" in first["warning"] and report["warnings"] == [first["warning"]]
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert run["kind"] == "agent-r" and run["status"] == "done"


@pytest.mark.slow
def test_agent_r_runs_end_to_end_and_a_resume_never_redoes_a_finished_stage(llm: Any, tmp_path: Path) -> None:
    tiny = {"search_iterations": 4, "expansions": 2, "max_pairs_per_tree": 1, "max_tokens": 16, "eval_max_steps": 1}
    config = AgentRConfig(**{**FAST, **tiny})  # type: ignore[arg-type]
    first: list[tuple[int, str]] = []
    second: list[tuple[int, str]] = []
    third: list[tuple[int, str]] = []
    with Store(tmp_path / "kintsugi.db") as store:
        trainer = AgentRTrainer(store, tmp_path, config, llm.with_adapter, on_stage=interrupt_at("train", first))
        with pytest.raises(Interrupted):
            trainer.run()
        run_id = trainer.run_id
        report = AgentRTrainer(
            store, tmp_path, config, llm.with_adapter, run_id=run_id, on_stage=interrupt_at("-", second)
        ).run()
        again = AgentRTrainer(
            store, tmp_path, config, llm.with_adapter, run_id=run_id, on_stage=interrupt_at("-", third)
        ).run()
        adapters = store.db.execute("SELECT COUNT(*) FROM adapters").fetchone()[0]
    assert first == [(0, "eval"), (1, "search"), (1, "dataset"), (1, "train")]
    assert second == [(1, "train"), (1, "eval")] and third == []
    assert again["iterations"] == report["iterations"] and report["warnings"] == []
    assert json.loads((tmp_path / "report.json").read_text()) == again
    base, it = report["iterations"]
    assert base["iteration"] == 0 and base["eval_success_rate"] is not None and set(base["stage_seconds"]) == {"eval"}
    assert it["trees"] == 1 and it["tasks_solved_by_search"] == 1 and it["pairs"] >= it["verified_revisions"] >= 1
    assert it["rejected_splices"] == it["pairs"] - it["verified_revisions"] and it["llm_calls"] > 0
    assert it["sft_size"] == it["new_sft_records"] >= 1 and isinstance(it["train_loss"], float)
    assert Path(it["adapter"], "adapter_config.json").is_file() and adapters == 1
    lo, hi = it["eval_ci95"]
    assert 0.0 <= lo <= it["eval_success_rate"] <= hi <= 1.0
    assert set(it["stage_seconds"]) == {"search", "dataset", "train", "eval"}
    assert it["stage_seconds"]["train"] > 0 and it["stage_seconds"]["search"] > 0
