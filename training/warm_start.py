"""Warm start by behaviour cloning: play the environment's expert on training tasks, store the episodes
(`source=expert`), fine-tune the agent on them in its own prompt format, and measure the gain on held-out tasks.

Self-improvement needs successes to reinforce, and the embedded 135M model starts with almost none (0% of household
games). ETO, IPR, AgentGym's AgentEvol and "Language Models are Few-shot Butlers" (Micheli & Fleuret 2021) start the
same way: clone a demonstrator first, then improve from the model's own episodes. The demonstrator is the
environment's `expert` (household: the *searching* expert, which looks where a person would look and opens what it
must, so that a policy imitating it learns to search instead of guessing where the hidden object is; code: the
reference solutions of the train split). The cloned agent reads the `compact` prompt where the environment has one:
the rules in a few lines and no demonstration episodes, which it no longer needs.

Stages (resumable, `training/stages.py`): demos -> dataset -> train -> eval of the base -> eval of the warm start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from agents.metrics import paired_comparison, wilson_interval
from agents.runner import RunConfig, expert_steps, make_env, start_trajectory
from agents.store import Store
from agents.types import LLM, Source, Trajectory
from environments.base import EnvEntry, TaskSpec, get_entry
from training.stages import StageBook, outcomes

log = logging.getLogger(__name__)

FINETUNES = ("full", "lora")


@dataclass(frozen=True)
class WarmStartConfig:
    """One warm start (stored with its run, so a resume repeats it exactly)."""

    env: str = "household"
    """Registered environment (it must have an expert)."""
    suite: str | None = None
    """Task suite (None: the environment's default)."""
    split: str = "train"
    """Split whose tasks the expert demonstrates."""
    demos: int = 100
    """Expert episodes to clone (the first N tasks of the split)."""
    prompt: str | None = None
    """Prompt profile of the cloned agent (None: `compact` where the environment has it, else its default)."""
    eval_split: str | None = None
    """Held-out split (None: the environment's own, e.g. valid_unseen)."""
    eval_limit: int | None = None
    """Evaluate on the first N held-out tasks only (None: all)."""
    eval_base: bool = True
    """Also evaluate the base model (with its default prompt) on the same held-out tasks, for the paired test."""
    max_steps: int | None = None
    """Steps per held-out episode (None: the environment's default)."""
    max_attempts: int = 1
    """Attempts per held-out code episode (pass@1 by default)."""
    base: str = "smollm2"
    """Base model."""
    finetune: str = "full"
    """`full` (every weight; saves a model folder) or `lora` (an adapter). Full learned more per CPU-minute here."""
    epochs: float = 2.0
    """Passes over the demonstrations."""
    learning_rate: float | None = None
    """Peak learning rate, cosine schedule after a short warm-up (None: 1e-4 for full, 1e-3 for LoRA)."""
    lora_r: int = 16
    """LoRA rank (at most the vLLM server's max LoRA rank, 16)."""
    lora_alpha: int = 32
    """LoRA alpha."""
    target_modules: tuple[str, ...] | str = "all-linear"
    """Modules that get LoRA."""
    batch_size: int = 1
    """Episodes per forward pass (1: no padding, the fastest on CPU)."""
    gradient_accumulation_steps: int = 4
    """Batches per optimizer step."""
    seed: int = 0
    """Seed of training and evaluation."""
    ray: str | None = None
    """Play the expert's demos and the held-out evaluations on Ray: `auto` (a local cluster per stage) or
    HOST:PORT; None: in this process. Workers build the stage's model themselves."""
    ray_workers: int = 2
    """Episode workers on Ray, each with its own model (or client of a shared server)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WarmStartConfig:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if isinstance(values.get("target_modules"), list):
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def __post_init__(self) -> None:
        if self.finetune not in FINETUNES:
            raise ValueError(f"unknown finetune {self.finetune!r}; use one of {', '.join(FINETUNES)}")

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-4 if self.finetune == "full" else 1e-3

    def resolved_prompt(self, entry: EnvEntry) -> str | None:
        if self.prompt is not None:
            return self.prompt
        return "compact" if "compact" in entry.prompts else None

    def resolved_eval_split(self, entry: EnvEntry) -> str | None:
        return self.eval_split or entry.eval_split


def expert_trajectory(
    store: Store, entry: EnvEntry, task: TaskSpec, run_config: RunConfig, run_id: str, resources: dict[str, Any]
) -> Trajectory:
    """Play the environment's expert on `task` and store the episode (`source=expert`), step by step."""
    if entry.expert is None:
        raise ValueError(f"the {entry.name} environment has no expert to clone")
    env = make_env(entry, task, run_config, resources)
    try:
        traj = start_trajectory(
            store, env, entry, task, run_id, None, seed=run_config.seed, source=Source.EXPERT, prompt=run_config.prompt
        )
        for step in expert_steps(entry, env):
            store.add_step(traj.id, step)
        store.finish_trajectory(traj.id)
    finally:
        env.close()
    return store.get_trajectory(traj.id)


def sft_records(trajectories: list[Trajectory]) -> list[dict[str, Any]]:
    """TRL conversational records of the successful demonstrations, in the prompt the agent will read."""
    return [
        {"messages": t.to_messages(), "trajectory_id": t.id, "task_id": t.task_id, "source": str(t.source),
         "success": True}
        for t in trajectories
        if t.success
    ]  # fmt: skip


class WarmStarter:
    """Runs (or resumes) a warm start; `make_llm(weights)` builds the agent for trained weights (None: the base model;
    an adapter or a model folder: see `agents.llm.agent_factory`)."""

    def __init__(
        self,
        store: Store,
        out_dir: Path,
        config: WarmStartConfig,
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
        self.entry = get_entry(config.env)
        if self.entry.expert is None:
            raise ValueError(f"the {config.env} environment has no expert to clone; warm start needs one")
        self.prompt = config.resolved_prompt(self.entry)
        self.entry.prompt(self.prompt)  # an unknown profile fails before anything runs
        self.run_id = run_id or store.create_run(asdict(config), model=config.base, kind="warm-start")
        self.stages = StageBook(store, self.run_id, on_stage)

    def _demo_config(self) -> RunConfig:
        c = self.config
        return RunConfig(env=c.env, suite=c.suite, split=c.split, limit=c.demos, seed=c.seed, model=c.base,
                         prompt=self.prompt)  # fmt: skip

    def eval_config(self, prompt: str | None) -> RunConfig:
        """Greedy, one sample per held-out task, with prompt profile `prompt`."""
        c = self.config
        return RunConfig(
            env=c.env, suite=c.suite, split=c.resolved_eval_split(self.entry), samples=1, max_attempts=c.max_attempts,
            max_steps=c.max_steps, temperature=0.0, limit=c.eval_limit, seed=c.seed, model=c.base, prompt=prompt,
            batch_size=64, ray=c.ray, ray_workers=c.ray_workers,
        )  # fmt: skip

    def _demos(self, prior: dict[str, Any]) -> dict[str, Any]:
        run_config = self._demo_config()
        run_id = prior.get("run_id")
        if run_id is None:
            run_id = self.store.create_run(asdict(run_config), model=f"expert:{self.config.env}", kind="expert")
            self.stages.mark(0, "demos", "running", {"run_id": run_id}, None)
        tasks = self.entry.load_tasks(run_config.suite, run_config.split, run_config.limit)
        if self.config.ray:  # the same demos, played by the expert on Ray workers (`--ray`)
            from agents.ray_runner import run_on_ray

            ray_config = replace(run_config, ray=self.config.ray, ray_workers=self.config.ray_workers)
            run_on_ray(None, self.store, ray_config, self.entry, tasks, run_id=run_id, expert=True,
                       on_progress=self.on_progress)  # fmt: skip
        else:
            self._demos_here(run_config, run_id, tasks)
        trajs = self.store.trajectories(run_id, status="done")
        solved = sum(t.success for t in trajs)
        self.store.finish_run(run_id, {"trajectories": len(trajs), "successes": solved})
        return {"run_id": run_id, "episodes": len(trajs), "solved": solved,
                "steps": sum(len(t.steps) for t in trajs)}  # fmt: skip

    def _demos_here(self, run_config: RunConfig, run_id: str, tasks: list[TaskSpec]) -> None:
        done = {t.task_id for t in self.store.trajectories(run_id, status="done")}
        for t in self.store.trajectories(run_id, status="running"):
            self.store.finish_trajectory(t.id, status="abandoned", meta={"abandoned": "interrupted"})
        resources = self.entry.resources()
        try:
            for i, task in enumerate(tasks):
                if task.task_id not in done:
                    expert_trajectory(self.store, self.entry, task, run_config, run_id, resources)
                if self.on_progress:
                    self.on_progress(i + 1, len(tasks))
        finally:
            for resource in resources.values():
                resource.close()

    def _dataset(self, demo_run: str) -> dict[str, Any]:
        records = sft_records(self.store.trajectories(demo_run, status="done", source=Source.EXPERT))
        path = self.out_dir / "warm_start_sft.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        self.stages.record_dataset(0, "warm_start_sft", path, records, [r["trajectory_id"] for r in records])
        return {"path": str(path), "size": len(records)}

    def _train(self, data: str) -> dict[str, Any]:
        from training.lora import LoraTrainConfig, train_sft

        c = self.config
        result = train_sft(
            data,
            LoraTrainConfig(
                base=c.base, output_dir=str(self.out_dir / ("model" if c.finetune == "full" else "adapter")),
                use_peft=c.finetune == "lora", num_train_epochs=c.epochs,
                learning_rate=c.resolved_learning_rate(), lora_r=c.lora_r, lora_alpha=c.lora_alpha,
                lora_target_modules=c.target_modules, per_device_train_batch_size=c.batch_size,
                gradient_accumulation_steps=c.gradient_accumulation_steps, lr_scheduler_type="cosine",
                warmup_steps=5, seed=c.seed, disable_tqdm=True, prompt=self.prompt,
            ),
            registry=self.store.path,
            on_progress=self.on_progress,
        )  # fmt: skip
        return {"weights": result.adapter_dir, "adapter_id": result.adapter_id, "examples": result.num_examples,
                "steps": result.steps, "metrics": result.metrics}  # fmt: skip

    def _eval(self, stage: str, weights: str | None, prompt: str | None, prior: dict[str, Any]) -> dict[str, Any]:
        return self.stages.agent_run(0, stage, self.make_llm(weights), self.eval_config(prompt), prior,
                                     on_progress=self.on_progress)  # fmt: skip

    def run(self) -> dict[str, Any]:
        """The warm start's report (also written to OUT/report.json)."""
        demos = self.stages.run(0, "demos", self._demos)
        dataset = self.stages.run(0, "dataset", lambda _p: self._dataset(demos["run_id"]))
        if dataset["size"] == 0:
            raise ValueError("the expert solved none of the demonstration tasks; nothing to clone")
        trained = self.stages.run(0, "train", lambda _p: self._train(dataset["path"]))
        weights = trained["weights"]
        evals: dict[str, dict[str, Any]] = {}
        if self.config.eval_base:
            evals["base"] = self.stages.run(0, "eval_base", lambda p: self._eval("eval_base", None, None, p))
        evals["warm_start"] = self.stages.run(0, "eval", lambda p: self._eval("eval", weights, self.prompt, p))
        report = self._report(demos, dataset, trained, evals)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        self.store.finish_run(self.run_id, report)
        return report

    def _report(self, demos: dict, dataset: dict, trained: dict, evals: dict[str, dict]) -> dict[str, Any]:
        def rate(stage: dict) -> dict[str, Any]:
            m = stage["metrics"]
            return {"run_id": stage["run_id"], "successes": m["successes"], "n": m["trajectories"],
                    "rate": m["success_rate"], "ci95": list(wilson_interval(m["successes"], m["trajectories"])),
                    "seconds": stage.get("_seconds")}  # fmt: skip

        report: dict[str, Any] = {
            "run_id": self.run_id,
            "config": asdict(self.config),
            "prompt": self.prompt or "default",
            "demos": {k: demos[k] for k in ("run_id", "episodes", "solved", "steps")} | {"seconds": demos["_seconds"]},
            "sft_examples": dataset["size"],
            "weights": trained["weights"],
            "finetune": self.config.finetune,
            "adapter_id": trained["adapter_id"],
            "train": trained["metrics"] | {"steps": trained["steps"]},
            "eval_split": self.config.resolved_eval_split(self.entry),
            "eval": {name: rate(stage) for name, stage in evals.items()},
        }
        if "base" in evals:
            report["paired"] = paired_comparison(
                outcomes(self.store, evals["base"]["run_id"]), outcomes(self.store, evals["warm_start"]["run_id"])
            )
        return report
