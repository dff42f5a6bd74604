"""Agent-R: iterative self-training on revision trajectories that the environment verified.

One iteration: MCTS over the training tasks with the current model, then pairs of failed and successful paths
cut at the first error and spliced with a revision thought, kept only where a replay in the environment ends in
success (`reflection.mcts_pipeline.search_and_revise`) -> the SFT set: the verified revisions of this and the
earlier iterations, TRL prompt-completion (the bad prefix is prompt, so it carries no loss), deduplicated, each
record naming its `source=revised` trajectory -> LoRA SFT from the base model -> a greedy evaluation on the
held-out split (valid_unseen). The next iteration searches with the new adapter. Stages are recorded in the store
(`training/stages.py`), so a resumed run never redoes a finished one. An iteration whose search adds no new
verified revision stops the loop, with a warning in the report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agents.metrics import paired_comparison, wilson_interval
from agents.runner import RunConfig
from agents.store import Store
from agents.types import LLM
from environments.base import get_entry
from reflection.mcts import MCTSConfig
from reflection.mcts_pipeline import SearchConfig, new_search_run, search_and_revise
from reflection.revision import CONTINUATIONS, RevisionConfig, export_records
from reflection.tree_store import TreeStore
from training.stages import StageBook, outcomes

log = logging.getLogger(__name__)

SEARCH_TOTALS = ("trees", "tasks_solved_by_search", "pairs", "verified_revisions", "rejected_splices", "llm_calls")
"""What the report keeps of each iteration's search summary."""


@dataclass(frozen=True)
class AgentRConfig:
    """One Agent-R run (stored with it, so a resume repeats it exactly)."""

    env: str = "household"
    """Registered environment (it needs an expert or admissible actions for the search to find successes)."""
    suite: str | None = None
    """Task suite (None: the environment's default)."""
    train_split: str = "train"
    """Tasks searched for revision trajectories."""
    eval_split: str = "valid_unseen"
    """Held-out tasks for evaluation."""
    iterations: int = 1
    """Search -> revise -> train -> evaluate rounds."""
    limit: int | None = None
    """Search only the first N training tasks."""
    eval_limit: int | None = None
    """Evaluate on only the first N held-out tasks."""
    eval_max_steps: int | None = None
    """Steps per held-out episode (None: the environment's default, 50 for household)."""
    search_iterations: int = 4
    """MCTS iterations per task (Agent-R: 4)."""
    expansions: int = 4
    """Replies sampled per expansion (Agent-R: 4)."""
    max_depth: int = 10
    """Most actions on a searched path (Agent-R: 10)."""
    exploration: float = 0.25
    """UCT exploration constant c (Agent-R: 0.25)."""
    rollout: str = "none"
    """Leaf valuation: `none` (Agent-R), `llm`, `random`, or `expert`."""
    admissible: str = "map"
    """Admissible actions: `off`, `map` (snap replies onto them), or `map+fill`."""
    allow_thoughts: bool = False
    """Keep the model's `think:` replies as children (a policy that reasons before it acts, such as a warm start
    cloned from a thinking expert, otherwise adds no child of its own to the tree)."""
    temperature: float = 0.8
    """Sampling temperature of the expansions."""
    max_tokens: int | None = None
    """Tokens per reply in search and evaluation (None: the environment's default)."""
    alpha: float = 0.5
    """A successful path's value must exceed alpha."""
    beta: float = 0.25
    """The value gap of a pair must exceed beta."""
    max_pairs_per_tree: int = 2
    """Most failed paths revised per tree."""
    judge: str = "score"
    """First-error judge: `score`, `generate`, or `none` (cut where the paths part)."""
    thought: str = "model"
    """`model` writes the revision thought (templates as fallback); `fallback` uses the templates only."""
    resolve: str = "mcts+expert"
    """When the good path fails after the bad prefix: `none`, `mcts`, `expert`, or `mcts+expert`."""
    continuations: tuple[str, ...] = CONTINUATIONS
    """Verified splices that train, by how they continued (leave out `expert` for model-only data)."""
    base: str = "smollm2"
    """Base model of the agent (and of each adapter): `smollm2` or a model folder, e.g. a full warm start's."""
    prompt: str | None = None
    """Prompt profile of the agent, in search and evaluation (None: the environment's default)."""
    finetune: str = "lora"
    """`lora` (an adapter on `base`) or `full` (every weight of `base`; a model folder)."""
    train_batch_size: int = 1
    """Examples per forward pass in training (1: no padding, the fastest on CPU)."""
    gradient_accumulation_steps: int = 4
    """Forward passes per optimizer step."""
    epochs: float = 3.0
    """LoRA SFT epochs."""
    learning_rate: float = 3e-4
    """LoRA SFT learning rate."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA alpha."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Modules that get LoRA."""
    batch_size: int = 8
    """Held-out episodes advanced together."""
    seed: int = 0
    """Seed for search, sampling and environments (iteration i searches with seed + 1000 i)."""
    ray: str | None = None
    """Grow the search trees and play the held-out evaluation on Ray: `auto` (a local cluster per stage) or
    HOST:PORT; None: in this process. Workers build the stage's model themselves; revisions stay here."""
    ray_workers: int = 2
    """Episode workers on Ray, each with its own model (or client of a shared server)."""

    def __post_init__(self) -> None:
        if self.finetune not in ("lora", "full"):
            raise ValueError(f"unknown finetune {self.finetune!r}; use lora or full")
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1; got {self.iterations}")
        unknown = set(self.continuations) - set(CONTINUATIONS)
        if unknown or not self.continuations:
            raise ValueError(f"continuations must be some of {', '.join(CONTINUATIONS)}; got {self.continuations}")
        self.search_config(1)  # MCTSConfig and RevisionConfig check their own fields

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentRConfig:
        """The config from its stored (JSON) form."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})

    def search_config(self, iteration: int) -> SearchConfig:
        """What iteration `iteration` searches (its own seed, so iterations do not repeat each other's samples)."""
        seed = self.seed + 1000 * iteration
        return SearchConfig(
            env=self.env,
            suite=self.suite,
            split=self.train_split,
            limit=self.limit,
            seed=seed,
            ray=self.ray,
            ray_workers=self.ray_workers,
            mcts=MCTSConfig(
                iterations=self.search_iterations, expansions=self.expansions, max_depth=self.max_depth,
                exploration=self.exploration, rollout=self.rollout, temperature=self.temperature,
                max_tokens=self.max_tokens, admissible=self.admissible, allow_thoughts=self.allow_thoughts, seed=seed,
                system_prompt=get_entry(self.env).prompt(self.prompt).system if self.prompt else None,
            ),
            revision=RevisionConfig(
                alpha=self.alpha, beta=self.beta, max_pairs_per_tree=self.max_pairs_per_tree, judge=self.judge,
                thought=self.thought, resolve=self.resolve,
            ),
        )  # fmt: skip

    def eval_config(self) -> RunConfig:
        """The greedy held-out evaluation: one sample per task."""
        return RunConfig(
            env=self.env, suite=self.suite, split=self.eval_split, samples=1, max_attempts=1,
            max_steps=self.eval_max_steps, temperature=0.0, max_tokens=self.max_tokens, limit=self.eval_limit,
            seed=self.seed, batch_size=self.batch_size, model=self.base, prompt=self.prompt, ray=self.ray,
            ray_workers=self.ray_workers,
        )  # fmt: skip


@dataclass
class AgentRIteration:
    """What one iteration did and measured (iteration 0 is the base model's evaluation)."""

    iteration: int
    search_run_id: str | None = None
    trees: int | None = None
    tasks_solved_by_search: int | None = None
    """Tasks where some searched path reached the goal."""
    pairs: int | None = None
    """Splices tried (failed/successful path pairs)."""
    verified_revisions: int | None = None
    rejected_splices: int | None = None
    llm_calls: int | None = None
    sft_size: int | None = None
    """Examples in this iteration's SFT set (verified revisions of this and earlier iterations)."""
    new_sft_records: int | None = None
    """Of those, how many this iteration's search added."""
    train_loss: float | None = None
    adapter: str | None = None
    eval_success_rate: float | None = None
    """Greedy success rate on the held-out split."""
    eval_ci95: list[float] = field(default_factory=list)
    """95% Wilson interval of the held-out success rate."""
    vs_base: dict[str, Any] | None = None
    """Paired comparison with iteration 0 on the same held-out tasks (exact McNemar p, bootstrap interval)."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warning: str | None = None


def revision_sft_records(store: Store, search_runs: list[str], continuations: tuple[str, ...]) -> list[dict]:
    """The SFT set: verified revisions of `search_runs` (in order), deduplicated, each with its provenance.

    Every record is TRL prompt-completion plus `revision_id`, `trajectory_id` (the `source=revised` trajectory
    the environment confirmed), `parent_id` (the failed path it repairs), `task_id` and `search_run_id`.
    """
    seen: set[str] = set()
    records = []
    for run in search_runs:
        rows = {r.id: r for r in TreeStore(store).revisions(run, status="verified")}
        sft, _ = export_records(store, run, continuations=continuations)
        for rec in sft:
            key = json.dumps([rec["prompt"], rec["completion"]], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            row = rows[rec["revision_id"]]
            records.append(
                {
                    **rec,
                    "trajectory_id": row.revised_trajectory_id,
                    "parent_id": row.bad_trajectory_id,
                    "task_id": row.task_id,
                    "source": "revised",
                    "continuation": row.continuation,
                    "search_run_id": run,
                }
            )
    return records


class AgentRTrainer:
    """Runs (or resumes) an Agent-R run; `make_llm(adapter)` builds the agent for an adapter (None: base)."""

    def __init__(
        self,
        store: Store,
        out_dir: Path,
        config: AgentRConfig,
        make_llm: Callable[[str | None], LLM],
        *,
        run_id: str | None = None,
        on_stage: Callable[[int, str, str], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.out_dir = out_dir
        self.config = config
        self.make_llm = make_llm
        self.on_progress = on_progress
        self.run_id = run_id or store.create_run(asdict(config), model=config.base, kind="agent-r")
        self.stages = StageBook(store, self.run_id, on_stage)

    # stages -----------------------------------------------------------------------------------------
    def _eval(self, iteration: int, adapter: str | None) -> dict[str, Any]:
        return self.stages.run(
            iteration,
            "eval",
            lambda prior: self.stages.agent_run(
                iteration, "eval", self.make_llm(adapter), self.config.eval_config(), prior,
                on_progress=self.on_progress,
            ),
        )  # fmt: skip

    def _search(self, iteration: int, adapter: str | None, prior: dict[str, Any]) -> dict[str, Any]:
        """Search and revise the training tasks with the current model; an interrupted search keeps every tree it
        revised to the end and searches the rest."""
        config = self.config.search_config(iteration)
        llm = self.make_llm(adapter)
        run_id = prior.get("run_id")
        if run_id is None:
            run_id = new_search_run(self.store, llm, config)
            self.stages.mark(iteration, "search", "running", {"run_id": run_id}, None)
        total = len(get_entry(config.env).load_tasks(config.suite, config.split, config.limit))
        done = len(TreeStore(self.store).finished(run_id))

        def on_task(_: Any) -> None:
            nonlocal done
            done += 1
            if self.on_progress:
                self.on_progress(done, total)

        report = search_and_revise(
            llm, self.store, config, out_dir=self.out_dir / f"iter{iteration}", on_task=on_task, run_id=run_id
        )
        summary = report.summary()
        return {"run_id": report.run_id, "files": summary["files"], **{k: summary[k] for k in SEARCH_TOTALS}}

    def _dataset(self, iteration: int, search_runs: list[str]) -> dict[str, Any]:
        records = revision_sft_records(self.store, search_runs, tuple(self.config.continuations))
        path = self.out_dir / f"iter{iteration}" / "agent_r_sft.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        self.stages.record_dataset(iteration, "agent_r_sft", path, records, [r["trajectory_id"] for r in records])
        new = sum(r["search_run_id"] == search_runs[-1] for r in records)
        return {"sft": str(path), "sft_size": len(records), "new_sft_records": new}

    def _train(self, iteration: int, data: str) -> dict[str, Any]:
        from training.lora import LoraTrainConfig, train_sft

        c = self.config
        full = c.finetune == "full"
        result = train_sft(
            data,
            LoraTrainConfig(
                base=c.base, output_dir=str(self.out_dir / f"iter{iteration}" / ("model" if full else "adapter")),
                use_peft=not full, num_train_epochs=c.epochs, learning_rate=c.learning_rate, lora_r=c.lora_r,
                lora_alpha=c.lora_alpha, lora_target_modules=tuple(c.target_modules),
                per_device_train_batch_size=c.train_batch_size,
                gradient_accumulation_steps=c.gradient_accumulation_steps, seed=c.seed, disable_tqdm=True,
                prompt=self.config.prompt,
            ),
            registry=self.store.path,
            on_progress=self.on_progress,
        )  # fmt: skip
        return {"adapter": result.adapter_dir, "adapter_id": result.adapter_id, "metrics": result.metrics}

    # the loop ---------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Every iteration's report (also written to OUT/report.json)."""
        base_eval = self._eval(0, None)
        reports = [self._report(0, {"eval": base_eval})]
        warnings: list[str] = []
        adapter: str | None = None
        search_runs: list[str] = []
        for it in range(1, self.config.iterations + 1):
            stages: dict[str, dict[str, Any]] = {}
            stages["search"] = self.stages.run(it, "search", lambda p, it=it, a=adapter: self._search(it, a, p))
            search_runs.append(stages["search"]["run_id"])
            stages["dataset"] = self.stages.run(it, "dataset", lambda _p, it=it: self._dataset(it, search_runs))
            if stages["dataset"]["new_sft_records"] == 0:
                verified = stages["search"]["verified_revisions"]
                why = "no splice was verified" if verified == 0 else f"its {verified} verified revision(s) add nothing"
                warning = f"iteration {it}: {why}, so there is nothing new to train on; stopped"
                log.warning(warning)
                warnings.append(warning)
                reports.append(self._report(it, stages, warning))
                break
            data = stages["dataset"]["sft"]
            stages["train"] = self.stages.run(it, "train", lambda _p, it=it, data=data: self._train(it, data))
            adapter = stages["train"]["adapter"]
            stages["eval"] = self._eval(it, adapter)
            reports.append(self._report(it, stages))
            reports[-1].vs_base = paired_comparison(
                outcomes(self.store, base_eval["run_id"]), outcomes(self.store, stages["eval"]["run_id"])
            )
        text = json.dumps(
            {
                "run_id": self.run_id,
                "config": asdict(self.config),
                "iterations": [asdict(r) for r in reports],
                "warnings": warnings,
            },
            indent=2,
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "report.json").write_text(text)
        report: dict[str, Any] = json.loads(text)
        self.store.finish_run(self.run_id, report)
        return report

    def _report(self, iteration: int, stages: dict[str, dict[str, Any]], warning: str | None = None) -> AgentRIteration:
        r = AgentRIteration(iteration=iteration, warning=warning)
        if "search" in stages:
            s = stages["search"]
            r.search_run_id = s["run_id"]
            r.trees, r.tasks_solved_by_search, r.pairs, r.verified_revisions, r.rejected_splices, r.llm_calls = (
                s[k] for k in SEARCH_TOTALS
            )
        if "dataset" in stages:
            r.sft_size = stages["dataset"]["sft_size"]
            r.new_sft_records = stages["dataset"]["new_sft_records"]
        if "train" in stages:
            r.adapter = stages["train"]["adapter"]
            metrics = stages["train"].get("metrics") or {}
            r.train_loss = metrics.get("train_loss", metrics.get("train_loss_last"))
        if "eval" in stages:
            m = stages["eval"]["metrics"]
            r.eval_success_rate = m["success_rate"]
            r.eval_ci95 = list(wilson_interval(m["successes"], m["trajectories"]))
        r.stage_seconds = {k: round(v.get("_seconds") or 0.0, 1) for k, v in stages.items()}
        return r
