"""Iterative self-training: ReST (keep successes) and Re-ReST (also repair failures by reflection).

One iteration: sample k trajectories per training task -> keep the successes -> (Re-ReST) reflect on the
failures and keep only repairs the environment confirmed -> build the agent's SFT set (reflection text
never in it; deduplicated; capped per task) and, separately, the reflector's SFT set -> LoRA SFT -> evaluate
on the held-out split. The next iteration samples with the new adapter. Every stage is recorded in the
store when it finishes, so an interrupted run resumes at the first unfinished stage and never redoes one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.metrics import paired_comparison, wilson_interval
from agents.runner import RunConfig, make_env, policy_for
from agents.store import Store
from agents.types import LLM, Source, Trajectory
from environments.base import get_entry
from training.stages import StageBook, outcomes

log = logging.getLogger(__name__)

METHODS = ("rest", "re-rest")


@dataclass(frozen=True)
class SelfTrainConfig:
    """One self-training run (stored with it, so a resume repeats it exactly)."""

    env: str = "code"
    """Registered environment."""
    suite: str | None = None
    """Task suite (None: the environment's default, e.g. `easy` for code)."""
    train_split: str = "train"
    """Tasks sampled for training data."""
    eval_split: str | None = None
    """Held-out tasks for evaluation (None: the environment's own, e.g. `test` for code, `valid_unseen`)."""
    max_steps: int | None = None
    """Steps per episode (None: the environment's default)."""
    method: str = "re-rest"
    """`rest` (successes only) or `re-rest` (plus confirmed reflection repairs)."""
    iterations: int = 1
    """Sample -> (reflect) -> train -> evaluate rounds."""
    samples: int = 4
    """Trajectories sampled per training task (k)."""
    max_attempts: int = 1
    """Attempts per sampled code episode (ReST samples single attempts)."""
    temperature: float = 0.8
    """Sampling temperature for training data."""
    max_tokens: int | None = None
    """Tokens per reply (None: the environment's default)."""
    limit: int | None = None
    """Use only the first N training tasks."""
    eval_limit: int | None = None
    """Use only the first N held-out tasks."""
    max_per_task: int = 2
    """Most SFT examples per task, so easy tasks do not dominate."""
    reflect_rounds: int = 2
    """Reflection rounds per failure (Re-ReST)."""
    base: str = "smollm2"
    """Base model of the agent (and of each adapter): `smollm2` or a model folder, e.g. a full warm start's."""
    base_adapter: str | None = None
    """LoRA adapter the agent starts from (e.g. a LoRA warm start): sampling uses it, training continues it, and
    every gain is measured against it."""
    prompt: str | None = None
    """Prompt profile of the agent (None: the one its base was trained with, else the environment's default)."""
    finetune: str = "lora"
    """`lora` (an adapter; continues `base_adapter`) or `full` (every weight of `base`; a model folder)."""
    train_batch_size: int = 1
    """Trajectories per forward pass in training (1: no padding, the fastest on CPU)."""
    gradient_accumulation_steps: int = 4
    """Forward passes per optimizer step."""
    epochs: float = 3.0
    """LoRA SFT epochs (Re-ReST: 3)."""
    learning_rate: float = 3e-4
    """LoRA SFT learning rate (Re-ReST: 3e-4)."""
    lora_r: int = 8
    """LoRA rank (Re-ReST: 8)."""
    lora_alpha: int = 16
    """LoRA alpha (Re-ReST: 16)."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Modules that get LoRA (Re-ReST: q and v projections)."""
    batch_size: int = 8
    """Episodes advanced together."""
    seed: int = 0
    """Seed for sampling and environments."""
    train_reflector: bool = False
    """Also fit a LoRA adapter for the reflector on its own SFT set."""
    reflexion_eval: bool = False
    """Also measure Reflexion-style retry at inference: held-out failures get `reflect_rounds` reflections."""
    consistency_eval: bool = False
    """Also measure Re-ReST's inference without ground truth: blind reflections + a vote by behaviour (code only)."""
    consistency_rounds: int = 2
    """Reflection rounds (without feedback) after the first answer, each adding a candidate to the vote."""
    consistency_samples: int = 4
    """Extra sampled answers in the vote (with the first answer they also give the plain-majority baseline)."""
    ray: str | None = None
    """Play the sampling and evaluation episodes on Ray: `auto` (a local cluster per stage) or HOST:PORT; None: in
    this process. Workers build the stage's model (base, adapter or full fine-tune) themselves."""
    ray_workers: int = 2
    """Episode workers on Ray, each with its own model (or client of a shared server)."""

    def __post_init__(self) -> None:
        if self.finetune not in ("lora", "full"):
            raise ValueError(f"unknown finetune {self.finetune!r}; use lora or full")
        if self.finetune == "full" and self.base_adapter:
            raise ValueError("a full fine-tune trains a model, not an adapter: merge the base adapter or use lora")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.consistency_eval and get_entry(self.env).consistency is None:
            raise ValueError(
                f"the {self.env} environment has no self-consistency vote (its answers cannot be compared without "
                "ground truth); use the Reflexion evaluation there"
            )


@dataclass
class IterationReport:
    """What one iteration did and measured."""

    iteration: int
    train_success_rate: float | None = None
    failures: int | None = None
    repaired: int | None = None
    repair_rate: float | None = None
    agent_sft_size: int | None = None
    reflector_sft_size: int | None = None
    train_loss: float | None = None
    adapter: str | None = None
    eval_pass_at_1: float | None = None
    eval_ci95: list[float] = field(default_factory=list)
    eval_with_reflexion: float | None = None
    """Held-out success once failures may retry with reflections (environment feedback), when measured."""
    eval_with_reflexion_ci95: list[float] = field(default_factory=list)
    eval_with_consistency: float | None = None
    """Held-out pass@1 of the answer voted among first, blind-reflected and sampled answers (no ground truth)."""
    eval_with_consistency_ci95: list[float] = field(default_factory=list)
    eval_with_majority: float | None = None
    """Held-out pass@1 of the plain majority vote among the first and sampled answers (no reflection)."""
    eval_with_majority_ci95: list[float] = field(default_factory=list)
    vs_base: dict[str, Any] | None = None
    """Paired comparison with iteration 0 on the same held-out tasks (exact McNemar p, bootstrap interval)."""
    stage_seconds: dict[str, float] = field(default_factory=dict)


def conversation_key(traj: Trajectory) -> tuple[str, tuple[str, ...]]:
    """Identity of a trajectory's behaviour for deduplication: its task and normalised assistant turns."""
    return traj.task_id, tuple(" ".join(s.model_output.split()) for s in traj.steps)


def agent_sft_records(
    sampled: Sequence[Trajectory], repaired: Sequence[Trajectory], max_per_task: int
) -> list[dict[str, Any]]:
    """The agent's SFT set: successful samples, then environment-confirmed repairs; deduplicated, capped per task.

    A repair counts only when the environment confirmed it (`meta["confirmed"]` and a successful final step).
    The conversation is the trajectory's own (task observation and the agent's turns), so no reflection text
    is ever in it.
    """
    seen: set[tuple[str, tuple[str, ...]]] = set()
    per_task: dict[str, int] = {}
    records = []
    verified = [t for t in repaired if t.source == Source.REFLECTED and t.meta.get("confirmed") and t.success]
    for traj in [*(t for t in sampled if t.success), *verified]:
        key = conversation_key(traj)
        if key in seen or per_task.get(traj.task_id, 0) >= max_per_task:
            continue
        seen.add(key)
        per_task[traj.task_id] = per_task.get(traj.task_id, 0) + 1
        records.append(
            {
                "messages": traj.to_messages(),
                "trajectory_id": traj.id,
                "parent_id": traj.parent_id,
                "task_id": traj.task_id,
                "source": str(traj.source),
                "success": True,
            }
        )
    return records


def reflector_sft_records(repaired: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """The reflector's SFT set: for each confirmed repair, its prompt and the reflection that worked."""
    records = []
    for traj in repaired:
        if not (traj.meta.get("confirmed") and traj.success):
            continue
        prompts = traj.meta.get("reflection_prompts") or []
        reflections = traj.meta.get("reflections") or []
        if not prompts or not reflections:
            continue
        prompt = [m for m in prompts[-1] if m["role"] != "assistant"]
        records.append(
            {
                "prompt": prompt,
                "completion": [{"role": "assistant", "content": reflections[-1]}],
                "trajectory_id": traj.id,
                "parent_id": traj.parent_id,
                "task_id": traj.task_id,
            }
        )
    return records


class SelfTrainer:
    """Runs (or resumes) a self-training run; `make_llm(adapter)` builds the agent for an adapter (None: base)."""

    def __init__(
        self,
        store: Store,
        out_dir: Path,
        config: SelfTrainConfig,
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
        self.run_id = run_id or store.create_run(asdict(config), model=config.base, kind="self-train")
        self.stages = StageBook(store, self.run_id, on_stage)
        self.entry = get_entry(config.env)
        self.eval_split = config.eval_split or self.entry.eval_split or "test"
        from training.lora import adapter_prompt

        self.prompt = config.prompt or adapter_prompt(config.base_adapter or config.base)
        self.entry.prompt(self.prompt)  # an unknown profile fails before anything runs

    # stage bookkeeping (training/stages.py) -----------------------------------------------------------
    def _run_stage(self, iteration: int, stage: str, work: Callable[[dict[str, Any]], dict[str, Any]]) -> dict:
        """Run `work` unless the stage already finished; `work` gets what an unfinished attempt recorded."""
        return self.stages.run(iteration, stage, work)

    # stages -----------------------------------------------------------------------------------------
    def _agent_run(self, iteration: int, stage: str, llm: LLM, run_config: RunConfig, prior: dict) -> dict:
        return self.stages.agent_run(iteration, stage, llm, run_config, prior, on_progress=self.on_progress)

    def _sample_config(self, iteration: int) -> RunConfig:
        c = self.config
        return RunConfig(
            env=c.env, suite=c.suite, split=c.train_split, samples=c.samples, max_attempts=c.max_attempts,
            max_steps=c.max_steps, temperature=c.temperature, max_tokens=c.max_tokens, limit=c.limit,
            seed=c.seed + 1000 * iteration, batch_size=c.batch_size, model=c.base, prompt=self.prompt, ray=c.ray,
            ray_workers=c.ray_workers,
        )  # fmt: skip

    def _eval_config(self) -> RunConfig:
        c = self.config
        return RunConfig(
            env=c.env, suite=c.suite, split=self.eval_split, samples=1, max_attempts=1, max_steps=c.max_steps,
            temperature=0.0, max_tokens=c.max_tokens, limit=c.eval_limit, seed=c.seed, batch_size=c.batch_size,
            model=c.base, prompt=self.prompt, ray=c.ray, ray_workers=c.ray_workers,
        )  # fmt: skip

    def _reflect(self, llm: LLM, sample_run: str, *, held_out: bool = False) -> dict[str, Any]:
        """Reflect on the failures of `sample_run` (a training sample, or with `held_out` an evaluation)."""
        from reflection.reflector import ReflectorConfig, reflect_on_failures

        c = self.config
        runs = self.store.trajectories(sample_run, status="done", source=Source.SAMPLED)
        failures = [t for t in runs if not t.success]
        split, limit = (self.eval_split, c.eval_limit) if held_out else (c.train_split, c.limit)
        tasks = {t.task_id: t for t in self.entry.load_tasks(c.suite, split, limit)}
        run_config = self._eval_config() if held_out else self._sample_config(0)
        resources = self.entry.resources()
        try:
            results = reflect_on_failures(
                llm, self.store, self.entry, failures, tasks,
                lambda task: make_env(self.entry, task, run_config, resources), sample_run,
                policy_for(self.entry, run_config), ReflectorConfig(rounds=self.config.reflect_rounds),
                on_progress=self.on_progress,
            )  # fmt: skip
        finally:
            for resource in resources.values():
                resource.close()
        repaired = sum(r.success for r in results)
        solved = len(runs) - len(failures) + repaired
        return {
            "failures": len(results),
            "repaired": repaired,
            "repair_rate": repaired / len(results) if results else 0.0,
            "success_with_reflexion": solved / len(runs) if runs else 0.0,
            "success_with_reflexion_ci95": list(wilson_interval(solved, len(runs))),
        }

    def _reflexion_eval(self, iteration: int, llm: LLM, eval_stage: dict[str, Any]) -> dict[str, Any] | None:
        if not self.config.reflexion_eval:
            return None
        run = eval_stage["run_id"]
        return self._run_stage(iteration, "eval_reflexion", lambda _p: self._reflect(llm, run, held_out=True))

    def _consistency(self, iteration: int, llm: LLM, eval_run: str) -> dict[str, Any]:
        """Vote without ground truth on the held-out tasks; the greedy evaluation's replies are the first answers."""
        vote = self.entry.ability("consistency")
        c = self.config
        tasks = self.entry.load_tasks(c.suite, self.eval_split, c.eval_limit)
        first = {
            t.task_id: t.steps[0].model_output
            for t in self.store.trajectories(eval_run, status="done", source=Source.SAMPLED)
            if t.steps
        }
        config = vote.ConsistencyConfig(
            rounds=c.consistency_rounds, samples=c.consistency_samples, max_tokens=c.max_tokens, seed=c.seed
        )
        resources = self.entry.resources()  # what its episodes use (code: a sandbox runs the candidates)
        try:
            outcomes = vote.evaluate_consistency(
                llm, tasks, config=config, first=first, on_progress=self.on_progress, **resources
            )
        finally:
            for resource in resources.values():
                resource.close()
        path = self.out_dir / f"iter{iteration}" / "consistency.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(o.to_dict(), ensure_ascii=False) + "\n" for o in outcomes), encoding="utf-8")
        return vote.summarize_consistency(outcomes) | {"details": str(path)}

    def _consistency_eval(self, iteration: int, llm: LLM, eval_stage: dict[str, Any]) -> dict[str, Any] | None:
        if not self.config.consistency_eval:
            return None
        run = eval_stage["run_id"]
        return self._run_stage(iteration, "eval_consistency", lambda _p: self._consistency(iteration, llm, run))

    def _datasets(self, iteration: int, sample_runs: list[str]) -> dict[str, Any]:
        sampled: list[Trajectory] = []
        repaired: list[Trajectory] = []
        for run in sample_runs:
            sampled += self.store.trajectories(run, status="done", source=Source.SAMPLED)
            repaired += self.store.trajectories(run, status="done", source=Source.REFLECTED)
        if self.config.method == "rest":
            repaired = []
        agent = agent_sft_records(sampled, repaired, self.config.max_per_task)
        reflector = reflector_sft_records(repaired)
        folder = self.out_dir / f"iter{iteration}"
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for kind, records in (("agent_sft", agent), ("reflector_sft", reflector)):
            path = folder / f"{kind}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
            self.stages.record_dataset(iteration, kind, path, records, [r["trajectory_id"] for r in records])
            paths[kind] = str(path)
        return {"agent_sft": paths["agent_sft"], "agent_sft_size": len(agent),
                "reflector_sft": paths["reflector_sft"], "reflector_sft_size": len(reflector)}  # fmt: skip

    def _train(self, iteration: int, data: str, name: str) -> dict[str, Any]:
        from training.lora import LoraTrainConfig, train_sft

        c = self.config
        agent = name == "adapter"  # the reflector's own adapter is always a fresh LoRA on the base model
        full = agent and c.finetune == "full"
        result = train_sft(
            data,
            LoraTrainConfig(
                base=c.base, output_dir=str(self.out_dir / f"iter{iteration}" / ("model" if full else name)),
                use_peft=not full, init_adapter=c.base_adapter if agent else None, num_train_epochs=c.epochs,
                learning_rate=c.learning_rate, lora_r=c.lora_r, lora_alpha=c.lora_alpha,
                lora_target_modules=tuple(c.target_modules), per_device_train_batch_size=c.train_batch_size,
                gradient_accumulation_steps=c.gradient_accumulation_steps, seed=c.seed, disable_tqdm=True,
                prompt=self.prompt if agent else None,
            ),
            registry=self.store.path,
            on_progress=self.on_progress,
        )  # fmt: skip
        return {"adapter": result.adapter_dir, "adapter_id": result.adapter_id, "metrics": result.metrics}

    # the loop ---------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Every iteration's report (also written to OUT/report.json)."""
        c = self.config
        reports: list[IterationReport] = []
        base_eval = self._run_stage(
            0,
            "eval",
            lambda prior: self._agent_run(0, "eval", self.make_llm(c.base_adapter), self._eval_config(), prior),
        )
        base_stages = {"eval": base_eval}
        if (reflexion := self._reflexion_eval(0, self.make_llm(c.base_adapter), base_eval)) is not None:
            base_stages["eval_reflexion"] = reflexion
        if (consistency := self._consistency_eval(0, self.make_llm(c.base_adapter), base_eval)) is not None:
            base_stages["eval_consistency"] = consistency
        reports.append(self._report(0, base_stages))
        adapter: str | None = None
        sample_runs: list[str] = []
        for it in range(1, c.iterations + 1):
            llm = self.make_llm(adapter)
            stages: dict[str, dict] = {}
            stages["sample"] = self._run_stage(
                it,
                "sample",
                lambda prior, llm=llm, it=it: self._agent_run(it, "sample", llm, self._sample_config(it), prior),
            )
            sample_runs.append(stages["sample"]["run_id"])
            if c.method == "re-rest":
                run = stages["sample"]["run_id"]
                stages["reflect"] = self._run_stage(it, "reflect", lambda _p, llm=llm, run=run: self._reflect(llm, run))
            stages["dataset"] = self._run_stage(it, "dataset", lambda _p, it=it: self._datasets(it, sample_runs))
            if stages["dataset"]["agent_sft_size"] == 0:
                log.warning("iteration %d: no successful or repaired trajectory to train on; stopping", it)
                reports.append(self._report(it, stages))
                break
            data = stages["dataset"]["agent_sft"]
            stages["train"] = self._run_stage(
                it, "train", lambda _p, it=it, data=data: self._train(it, data, "adapter")
            )
            if c.train_reflector and stages["dataset"]["reflector_sft_size"]:
                rdata = stages["dataset"]["reflector_sft"]
                stages["train_reflector"] = self._run_stage(
                    it, "train_reflector", lambda _p, it=it, rdata=rdata: self._train(it, rdata, "reflector")
                )
            adapter = stages["train"]["adapter"]
            tuned = self.make_llm(adapter)
            stages["eval"] = self._run_stage(
                it,
                "eval",
                lambda prior, tuned=tuned, it=it: self._agent_run(it, "eval", tuned, self._eval_config(), prior),
            )
            if (reflexion := self._reflexion_eval(it, tuned, stages["eval"])) is not None:
                stages["eval_reflexion"] = reflexion
            if (consistency := self._consistency_eval(it, tuned, stages["eval"])) is not None:
                stages["eval_consistency"] = consistency
            reports.append(self._report(it, stages))
            reports[-1].vs_base = paired_comparison(
                outcomes(self.store, base_eval["run_id"]), outcomes(self.store, stages["eval"]["run_id"])
            )
        report = {"run_id": self.run_id, "config": asdict(c), "iterations": [asdict(r) for r in reports]}
        (self.out_dir / "report.json").write_text(json.dumps(report, indent=2))
        self.store.finish_run(self.run_id, report)
        return report

    def _report(self, iteration: int, stages: dict[str, dict]) -> IterationReport:
        r = IterationReport(iteration=iteration)
        if "sample" in stages:
            r.train_success_rate = stages["sample"]["metrics"]["success_rate"]
        if "reflect" in stages:
            r.failures, r.repaired, r.repair_rate = (
                stages["reflect"][k] for k in ("failures", "repaired", "repair_rate")
            )
        if "dataset" in stages:
            r.agent_sft_size = stages["dataset"]["agent_sft_size"]
            r.reflector_sft_size = stages["dataset"]["reflector_sft_size"]
        if "train" in stages:
            r.adapter = stages["train"]["adapter"]
            metrics = stages["train"].get("metrics") or {}
            r.train_loss = metrics.get("train_loss", metrics.get("last_loss"))
        if "eval" in stages:
            m = stages["eval"]["metrics"]
            r.eval_pass_at_1 = m["pass_at_k"].get("1", m["success_rate"])
            r.eval_ci95 = list(wilson_interval(m["successes"], m["trajectories"]))
        if "eval_reflexion" in stages:
            r.eval_with_reflexion = stages["eval_reflexion"]["success_with_reflexion"]
            r.eval_with_reflexion_ci95 = stages["eval_reflexion"]["success_with_reflexion_ci95"]
        if "eval_consistency" in stages:
            vote = stages["eval_consistency"]
            r.eval_with_consistency = vote["success_consistency"]
            r.eval_with_consistency_ci95 = vote["success_consistency_ci95"]
            r.eval_with_majority = vote["success_majority"]
            r.eval_with_majority_ci95 = vote["success_majority_ci95"]
        r.stage_seconds = {k: round(v.get("_seconds") or 0.0, 1) for k, v in stages.items()}
        return r
