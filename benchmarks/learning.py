"""The learning study: does each self-improvement method move held-out numbers, against its own baseline?

    .venv/bin/python benchmarks/learning.py                  # the full study (household + graded code suite)
    .venv/bin/python benchmarks/learning.py --quick          # a reduced version that still trains and evaluates
    .venv/bin/python benchmarks/learning.py --resume         # continue an interrupted study where it stopped

Household (held out: valid_unseen, unseen task/object/receptacle combinations):
  base (the embedded model, few-shot ReAct prompt) -> warm start (behaviour cloning of the searching expert, full
  fine-tune, compact prompt) -> ReST iterations 1..R from the warm start; Re-ReST for one iteration at about the
  LLM calls of ReST's first; Agent-R for one iteration from the warm start; TT-SI / TT-D / TT-ICL on the warm start,
  per agent step, on the first games.
Code (the `graded` suite's test split): base -> ReST iterations 1..R; TT-SI on the base.
Tools (function calling, test split with unseen tool combinations): base -> warm start (the expert's calls) -> ReST
iterations; Re-ReST at about ReST's first iteration's calls; Agent-R (MCTS over tool calls); TT-SI / TT-D / TT-ICL
on the warm start, per agent step.

Every "beats" is a paired test over the same tasks (exact McNemar on discordant pairs, paired-bootstrap interval of
the difference), never overlapping intervals. Each method's part is a resumable staged run of its own (warm start,
self-training, Agent-R) in one store; the study records which run each part is, so an interrupted study resumes
inside the part it was running. Writes OUT/learning.md (tables), OUT/learning.json and OUT/learning.png (success vs
iteration with 95% intervals).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("learning")


@dataclass(frozen=True)
class StudyConfig:
    """Sizes of the study (the defaults are the full study; `--quick` shrinks them)."""

    backend: str = "vllm"
    """Backend that plays episodes (vllm: a CPU server started on demand; transformers: in process)."""
    household_suite: str | None = None
    """Household suite (None: every task type; e.g. `alfworld-like:pick_heat_then_place` for one type)."""
    household_max_steps: int | None = None
    """Steps per household episode (None: the environment's default, 50)."""
    household_demos: int = 100
    """Expert episodes cloned by the warm start."""
    household_eval_limit: int | None = None
    """Held-out household games (None: all 134 of valid_unseen)."""
    household_train_tasks: int = 200
    """Training games ReST samples (the first N of train; the warm start's demos are the first ones)."""
    household_samples: int = 1
    """Episodes sampled per training game and iteration."""
    household_temperature: float = 0.7
    """Sampling temperature of ReST's episodes."""
    rest_iterations: int = 3
    """ReST iterations (household and code)."""
    rest_epochs: float = 2.0
    """Epochs of each ReST / Re-ReST / Agent-R fine-tune."""
    rest_learning_rate: float = 5e-5
    """Learning rate of those full fine-tunes (the warm start's is 1e-4)."""
    agent_r_tasks: int = 40
    """Training games Agent-R searches."""
    agent_r_max_depth: int = 30
    """Most actions on a searched path (Agent-R's 10 reaches no household goal here: the warm start wins after 8-30
    steps, so a depth-10 search found no success and no pair)."""
    agent_r_rollout: str = "llm"
    """How Agent-R's new nodes are valued: `llm` (the model plays on, greedy) or `none` (Agent-R's own)."""
    agent_r_admissible: str = "map+fill"
    """How Agent-R's expansions use the admissible actions: `map+fill` tops the model's replies up with other
    admissible actions (the warm start's samples at T=0.8 repeat one action: 37 trees had 2 branches between them,
    so no pair), `map` only snaps replies onto them."""
    agent_r_allow_thoughts: bool = True
    """Keep the model's `think:` replies as children: the warm start opens every game with a thought (and 23% of
    its steps are thoughts), so without them its own replies add no child and the trees hold only fills."""
    ttsi_games: int = 12
    """Held-out games played by TT-SI / TT-D / TT-ICL (per agent step, in process: the slowest part)."""
    ttsi_max_steps: int = 50
    """Steps per TT-SI game."""
    code_suite: str = "graded"
    """Code suite of ReST and TT-SI (`graded`, or tiers of it such as `graded:1-2`, where the base model already
    passes about a third)."""
    code_train_tasks: int | None = None
    """Graded train tasks ReST samples (None: all 274)."""
    code_samples: int = 4
    """Samples per code task and iteration."""
    code_eval_limit: int | None = None
    """Graded test tasks evaluated (None: all 187)."""
    code_ttsi_inputs: int = 40
    """Graded test inputs TT-SI judges."""
    tools_demos: int = 150
    """Expert episodes the tools warm start clones (the first N of train: every template in turn)."""
    tools_train_tasks: int = 300
    """Training tasks tools ReST samples (the first N of train; all 300 by default)."""
    tools_eval_limit: int | None = None
    """Held-out tools tasks (None: all 100 of test)."""
    tools_ttsi_tasks: int = 20
    """Held-out tools tasks TT-SI / TT-D / TT-ICL play (per agent step)."""
    batch_size: int = 64
    """Episodes each trainer plays at once (vLLM batches them; 1 makes a transformers study resume sample for
    sample, as batched generation pads differently)."""
    ray: str | None = None
    """Play the trainers' episodes and TT-SI's inputs on Ray (`auto` or HOST:PORT); None: in this process."""
    ray_workers: int = 2
    """Episode workers on Ray."""
    warm_run: str | None = None
    """A finished `kintsugi warm-start` run in the study's store to build on, instead of training a new warm start
    (a household run for the household parts, a tools run for the tools parts)."""
    parts: tuple[str, ...] = (
        "warm", "rest", "re-rest", "agent-r", "tt-si", "code-rest", "code-tt-si", "tools-warm", "tools-rest",
        "tools-re-rest", "tools-agent-r", "tools-tt-si",
    )  # fmt: skip
    """Parts of the study to run, in this order."""
    seed: int = 0
    """Seed of everything."""


QUICK = StudyConfig(
    household_suite="alfworld-like:pick_heat_then_place", household_max_steps=35, household_demos=40,
    household_eval_limit=None, household_train_tasks=24, rest_iterations=1, rest_epochs=1.0,
    agent_r_tasks=3, ttsi_games=2, ttsi_max_steps=12, code_train_tasks=24, code_samples=2, code_eval_limit=24,
    code_ttsi_inputs=4, tools_demos=45, tools_train_tasks=30, tools_eval_limit=30, tools_ttsi_tasks=6,
)  # fmt: skip
"""A reduced study on one task type (heating; 40 demos are the least that learned here, and only for one type): every
part trains and evaluates for real, on the 22 held-out heating games."""


class Study:
    """The study's stages in one store (`OUT/kintsugi.db`, run kind `learning`)."""

    def __init__(self, out: Path, config: StudyConfig, run_id: str | None = None) -> None:
        from agents.llm import agent_factory
        from agents.store import Store
        from training.stages import StageBook

        self.out = out
        self.config = config
        out.mkdir(parents=True, exist_ok=True)
        self.store = Store(out / "kintsugi.db")
        self.run_id = run_id or self.store.create_run(asdict(config), kind="learning")
        self.book = StageBook(self.store, self.run_id, self._on_stage)
        self._factories: dict[str, Any] = {}
        self._agent_factory = agent_factory
        self.results: dict[str, Any] = {}

    def agents(self, base: str = "smollm2") -> Any:
        """`make(weights)` for agents built on `base` (the base model, or the warm start's weights for the methods
        that start from it); one factory per base, so each model is loaded once."""
        if base not in self._factories:
            self._factories[base] = self._agent_factory(self.config.backend, base)
        return self._factories[base]

    def _on_stage(self, iteration: int, stage: str, state: str) -> None:
        log.warning("%s %s", stage, "started" if state == "start" else "done")

    def part(self, name: str, make_trainer: Any) -> dict[str, Any]:
        """Run a staged trainer as one stage of the study; a resume continues the trainer's own run."""

        def work(prior: dict[str, Any]) -> dict[str, Any]:
            trainer = make_trainer(prior.get("run_id"))
            self.book.mark(0, name, "running", {"run_id": trainer.run_id}, None)
            return trainer.run()

        self.results[name] = self.book.run(0, name, work)
        return self.results[name]

    def execution(self) -> dict[str, Any]:
        """Where the trainers play their episodes (not part of what is measured)."""
        return {"ray": self.config.ray, "ray_workers": self.config.ray_workers}

    def seed_eval(self, trainer_run: str, eval_stage: dict[str, Any]) -> None:
        """Give a trainer's iteration-0 evaluation the result of an identical evaluation already made (the same
        weights, prompt, greedy decoding and tasks), instead of playing it again."""
        from training.stages import StageBook

        book = StageBook(self.store, trainer_run)
        if book.get(0, "eval") is None:
            book.mark(0, "eval", "done", {k: v for k, v in eval_stage.items() if k != "_seconds"}, 0.0)

    # household ----------------------------------------------------------------------------------------------------
    def warm(self) -> dict[str, Any]:
        from training.warm_start import WarmStartConfig

        c = self.config
        config = WarmStartConfig(suite=c.household_suite, demos=c.household_demos, eval_limit=c.household_eval_limit,
                                 max_steps=c.household_max_steps, seed=c.seed, **self.execution())  # fmt: skip
        return self._warm_part("warm", config)

    def _warm_part(self, name: str, config: Any) -> dict[str, Any]:
        """A warm-start part: trained here, or adopted from `warm_run` when that run warm-started this environment
        (its own config, its stages already done)."""
        from training.warm_start import WarmStartConfig, WarmStarter

        adopted = None
        if self.config.warm_run:
            prior = self.store.get_run(self.config.warm_run)
            if prior["kind"] != "warm-start":
                raise ValueError(f"run {self.config.warm_run} is a {prior['kind']} run, not a warm start")
            if WarmStartConfig.from_dict(prior["config"]).env == config.env:
                adopted, config = self.config.warm_run, WarmStartConfig.from_dict(prior["config"])
        return self.part(
            name,
            lambda run: WarmStarter(
                self.store, self.out / name, config, self.agents(config.base), run_id=run or adopted
            ),
        )

    def _warm_eval(self, part: str = "warm") -> dict[str, Any]:
        from training.stages import StageBook

        warm = self.results[part]
        return StageBook(self.store, warm["run_id"]).get(0, "eval")["result"]

    def _rest_config(self, **changes: Any) -> Any:
        from training.self_training import SelfTrainConfig

        c = self.config
        settings = dict(
            env="household", suite=c.household_suite, max_steps=c.household_max_steps, method="rest",
            base=self.results["warm"]["weights"], prompt="compact", finetune="full",
            iterations=c.rest_iterations, samples=c.household_samples, temperature=c.household_temperature,
            limit=c.household_train_tasks, eval_limit=c.household_eval_limit, max_per_task=1, epochs=c.rest_epochs,
            learning_rate=c.rest_learning_rate, batch_size=c.batch_size, seed=c.seed, **self.execution(),
        )  # fmt: skip
        return SelfTrainConfig(**(settings | changes))

    def self_train(self, name: str, config: Any, warm: str = "warm") -> dict[str, Any]:
        from training.self_training import SelfTrainer

        prior = self.book.get(0, name)
        if prior and prior["status"] == "done" and len(prior["result"]["iterations"]) - 1 < config.iterations:
            # more iterations than the finished part ran (`--resume --rest-iterations N`): continue its own run
            self.book.mark(0, name, "running", {"run_id": prior["result"]["run_id"]}, prior["seconds"])

        def make(run: str | None) -> Any:
            trainer = SelfTrainer(self.store, self.out / name, config, self.agents(config.base), run_id=run)
            if config.base_adapter or config.base != "smollm2":  # starts from the warm start, already evaluated
                self.seed_eval(trainer.run_id, self._warm_eval(warm))
            return trainer

        return self.part(name, make)

    def rest(self) -> dict[str, Any]:
        return self.self_train("rest", self._rest_config())

    def re_rest(self) -> dict[str, Any]:
        """One Re-ReST iteration at about the LLM calls of ReST's first: half the samples, and one reflection round
        (a reflection and a retry episode) per failure."""
        c = self.config
        half = max(1, c.household_train_tasks // 2) if c.household_samples == 1 else c.household_train_tasks
        samples = c.household_samples if c.household_samples == 1 else max(1, c.household_samples // 2)
        config = self._rest_config(method="re-rest", iterations=1, limit=half, samples=samples, reflect_rounds=1)
        return self.self_train("re-rest", config)

    def agent_r(self) -> dict[str, Any]:
        from training.agent_r import AgentRConfig, AgentRTrainer

        c = self.config
        config = AgentRConfig(
            suite=c.household_suite, eval_max_steps=c.household_max_steps, base=self.results["warm"]["weights"],
            prompt="compact", finetune="full", iterations=1,
            limit=c.agent_r_tasks, eval_limit=c.household_eval_limit, epochs=c.rest_epochs,
            max_depth=c.agent_r_max_depth, rollout=c.agent_r_rollout, admissible=c.agent_r_admissible,
            allow_thoughts=c.agent_r_allow_thoughts,
            learning_rate=c.rest_learning_rate, batch_size=c.batch_size, seed=c.seed, **self.execution(),
        )  # fmt: skip

        def make(run: str | None) -> Any:
            trainer = AgentRTrainer(self.store, self.out / "agent-r", config, self.agents(config.base), run_id=run)
            self.seed_eval(trainer.run_id, self._warm_eval())
            return trainer

        return self.part("agent-r", make)

    def tt_si(self) -> dict[str, Any]:
        c = self.config
        return self._step_ttsi("tt-si", "household", c.household_suite, "valid_unseen", "warm", c.ttsi_games,
                               c.ttsi_max_steps)  # fmt: skip

    def _step_ttsi(self, name: str, env: str, suite: str | None, split: str, warm: str, limit: int,
                   max_steps: int | None) -> dict[str, Any]:  # fmt: skip
        """TT-SI / TT-D (the environment's expert writes) / TT-ICL on a warm start, judged per agent step, with
        the AUROC of the estimator's confidence against the base action being valid."""
        from agents.metrics import auroc
        from environments.base import get_entry
        from training.ttsi import TTSIConfig, TTSIOptions
        from training.ttsi_steps import StepTTSIConfig, run_step_ttsi_variants

        c = self.config
        weights = self.results[warm]["weights"]
        entry = get_entry(env)
        steps = max_steps or StepTTSIConfig.max_steps
        per_step = StepTTSIConfig(max_steps=steps, max_adaptations=1, prompt="compact")

        def run_here(llm: Any, tasks: list[Any]) -> dict[str, Any]:
            return run_step_ttsi_variants(llm, entry, tasks, TTSIConfig(seed=c.seed), ["tt-si", "tt-d", "tt-icl"],
                                          per_step, teacher="expert")  # fmt: skip

        def summary(report: Any) -> dict[str, Any]:
            judged = [s for e in report.episodes for s in e.judged]
            games = [e for e in report.episodes if e.judged]
            return report.summary() | {
                "auroc_confidence_vs_valid_action": auroc(
                    [s.confidence for s in judged], [s.base_valid for s in judged]
                ),  # None where the environment lists no admissible actions (tools)
                "auroc_min_confidence_vs_base_won": auroc(
                    [min(s.confidence for s in e.judged) for e in games], [e.base_won for e in games]
                ),
            }

        options = TTSIOptions(max_steps=steps, max_adaptations=1, prompt="compact")
        tasks = entry.load_tasks(suite, split, limit)
        return self._ttsi_part(name, env, weights, tasks, ("tt-si", "tt-d", "tt-icl"), "expert", options, run_here,
                               summary)  # fmt: skip

    def _ttsi_part(self, name: str, env: str, model: str, tasks: list[Any], variants: tuple[str, ...],
                   teacher: str | None, options: Any, run_here: Any, summary: Any) -> dict[str, Any]:  # fmt: skip
        """A TT-SI part, resumable input by input: each variant is a `tt-si` run in the study's store whose inputs
        are kept as they finish (`training.ttsi_checkpoint`; an input's report does not depend on what ran before
        it), so a resumed study runs only the inputs it had not finished. `run_here(llm, tasks)` gives every
        variant's report on `tasks` in this process; on Ray each variant's inputs are shared out to the workers."""

        def work(prior: dict[str, Any]) -> dict[str, Any]:
            from training.ttsi import TTSIConfig, join_reports
            from training.ttsi_checkpoint import TTSICheckpoint

            c = self.config
            runs = prior.get("runs") or {
                v: self.store.create_run({"part": name, "variant": v}, kind="tt-si", model=model) for v in variants
            }
            self.book.mark(0, name, "running", {"runs": runs}, None)
            points = {v: TTSICheckpoint(self.store, runs[v]) for v in variants}
            done = {v: point.finished() for v, point in points.items()}
            if c.ray:  # each variant on its own, so the workers play the base episodes once per variant
                for v in variants:
                    todo = [t for t in tasks if t.task_id not in done[v]]

                    def keep(task: Any, part: Any, seconds: float, v: str = v) -> None:
                        points[v].save(task.task_id, part, seconds)
                        done[v][task.task_id] = part

                    if todo:
                        self._ttsi_on_ray(env, model, todo, TTSIConfig(seed=c.seed, variant=v), teacher, options,
                                          keep)  # fmt: skip
            else:
                from agents.llm import make_llm

                llm = None
                for task in tasks:
                    if all(task.task_id in done[v] for v in variants):
                        continue
                    llm = llm or make_llm("transformers", model, num_threads=2)
                    began = time.perf_counter()
                    reports = run_here(llm, [task])
                    seconds = time.perf_counter() - began
                    with self.store.db:  # every variant's report on this input, or none of them
                        self.store.db.execute("BEGIN")
                        for v in variants:
                            points[v].save(task.task_id, reports[v], seconds)
                    for v in variants:
                        done[v][task.task_id] = reports[v]
            out = {}
            for v in variants:
                out[v] = summary(join_reports([done[v][t.task_id] for t in tasks])) | {"run_id": runs[v]}
                self.store.finish_run(runs[v], {k: out[v][k] for k in ("n",) if k in out[v]})
            return out

        self.results[name] = self.book.run(0, name, work)
        return self.results[name]

    def _ttsi_on_ray(self, env: str, model: str, tasks: list[Any], config: Any, teacher: str | None,
                     options: Any, on_input: Any) -> Any:  # fmt: skip
        """One variant's TT-SI report with the inputs shared out to the study's Ray workers."""
        from agents.llm.base import LLMRecipe
        from environments.base import get_entry
        from training.ray_ttsi import ttsi_on_ray

        c = self.config
        return ttsi_on_ray(get_entry(env), LLMRecipe("transformers", model), tasks, config, teacher=teacher,
                           options=options, address=c.ray, workers=c.ray_workers, on_input=on_input)  # fmt: skip

    # code ---------------------------------------------------------------------------------------------------------
    def _code_config(self) -> Any:
        from training.self_training import SelfTrainConfig

        c = self.config
        return SelfTrainConfig(
            env="code", suite=c.code_suite, method="rest", iterations=c.rest_iterations, samples=c.code_samples,
            temperature=0.8, limit=c.code_train_tasks, eval_limit=c.code_eval_limit, max_per_task=2,
            finetune="full", epochs=c.rest_epochs, learning_rate=2e-5, batch_size=c.batch_size, seed=c.seed,
            **self.execution(),
        )  # fmt: skip

    def code_rest(self) -> dict[str, Any]:
        return self.self_train("code-rest", self._code_config())

    def code_tt_si(self) -> dict[str, Any]:
        """TT-SI on the base model over graded test inputs, with the AUROC of its confidence against the base
        answer passing."""
        from agents.metrics import auroc
        from environments.base import get_entry
        from environments.code.ttsi import run_ttsi
        from training.ttsi import TTSIConfig, TTSIOptions

        c = self.config

        def summary(report: Any) -> dict[str, Any]:
            rows = report.results
            return report.summary() | {
                "auroc_confidence_vs_correct": auroc([r.confidence for r in rows], [r.base_passed for r in rows])
            }

        tasks = get_entry("code").load_tasks(c.code_suite, "test", c.code_ttsi_inputs)
        return self._ttsi_part("code-tt-si", "code", "smollm2", tasks, ("tt-si",), None, TTSIOptions(),
                               lambda llm, tasks: {"tt-si": run_ttsi(llm, tasks, TTSIConfig(seed=c.seed))},
                               summary)  # fmt: skip

    # tools --------------------------------------------------------------------------------------------------------
    def tools_warm(self) -> dict[str, Any]:
        from training.warm_start import WarmStartConfig

        c = self.config
        config = WarmStartConfig(
            env="tools", demos=c.tools_demos, eval_limit=c.tools_eval_limit, seed=c.seed, **self.execution()
        )
        return self._warm_part("tools-warm", config)

    def _tools_rest_config(self, **changes: Any) -> Any:
        from training.self_training import SelfTrainConfig

        c = self.config
        settings = dict(
            env="tools", method="rest", base=self.results["tools-warm"]["weights"], prompt="compact",
            finetune="full", iterations=c.rest_iterations, samples=c.household_samples,
            temperature=c.household_temperature, limit=c.tools_train_tasks, eval_limit=c.tools_eval_limit,
            max_per_task=1, epochs=c.rest_epochs, learning_rate=c.rest_learning_rate, batch_size=c.batch_size,
            seed=c.seed, **self.execution(),
        )  # fmt: skip
        return SelfTrainConfig(**(settings | changes))

    def tools_rest(self) -> dict[str, Any]:
        """ReST from the tools warm start: sample the train tasks, keep the successes, fine-tune, evaluate."""
        return self.self_train("tools-rest", self._tools_rest_config(), warm="tools-warm")

    def tools_re_rest(self) -> dict[str, Any]:
        """One Re-ReST iteration from the tools warm start at about ReST's first iteration's LLM calls (as in the
        household: half the tasks, one reflection round per failure)."""
        c = self.config
        half = max(1, c.tools_train_tasks // 2) if c.household_samples == 1 else c.tools_train_tasks
        samples = c.household_samples if c.household_samples == 1 else max(1, c.household_samples // 2)
        config = self._tools_rest_config(method="re-rest", iterations=1, limit=half, samples=samples,
                                         reflect_rounds=1)  # fmt: skip
        return self.self_train("tools-re-rest", config, warm="tools-warm")

    def tools_agent_r(self) -> dict[str, Any]:
        """One Agent-R iteration from the tools warm start: MCTS over tool calls on train tasks (replayed from the
        seed), revision trajectories, fine-tune, evaluate on test."""
        from training.agent_r import AgentRConfig, AgentRTrainer

        c = self.config
        config = AgentRConfig(
            env="tools", eval_split="test", base=self.results["tools-warm"]["weights"], prompt="compact",
            finetune="full", iterations=1, limit=c.agent_r_tasks, eval_limit=c.tools_eval_limit,
            rollout=c.agent_r_rollout,
            epochs=c.rest_epochs, learning_rate=c.rest_learning_rate, batch_size=c.batch_size, seed=c.seed,
            **self.execution(),
        )  # fmt: skip

        def make(run: str | None) -> Any:
            trainer = AgentRTrainer(self.store, self.out / "tools-agent-r", config, self.agents(config.base),
                                    run_id=run)  # fmt: skip
            self.seed_eval(trainer.run_id, self._warm_eval("tools-warm"))
            return trainer

        return self.part("tools-agent-r", make)

    def tools_tt_si(self) -> dict[str, Any]:
        c = self.config
        return self._step_ttsi("tools-tt-si", "tools", None, "test", "tools-warm", c.tools_ttsi_tasks, None)

    # the whole study ----------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        steps = {"warm": self.warm, "rest": self.rest, "re-rest": self.re_rest, "agent-r": self.agent_r,
                 "tt-si": self.tt_si, "code-rest": self.code_rest, "code-tt-si": self.code_tt_si,
                 "tools-warm": self.tools_warm, "tools-rest": self.tools_rest, "tools-re-rest": self.tools_re_rest,
                 "tools-agent-r": self.tools_agent_r, "tools-tt-si": self.tools_tt_si}  # fmt: skip
        needs_warm = {"rest", "re-rest", "agent-r", "tt-si"}
        if needs_warm & set(self.config.parts) and "warm" not in self.config.parts:
            self.warm()
        needs_tools_warm = {"tools-rest", "tools-re-rest", "tools-agent-r", "tools-tt-si"}
        if needs_tools_warm & set(self.config.parts) and "tools-warm" not in self.config.parts:
            self.tools_warm()
        for part in self.config.parts:
            steps[part]()
        seconds = {name: self.book.get(0, name)["seconds"] for name in self.results if self.book.get(0, name)}
        summary = {"run_id": self.run_id, "out": str(self.out), "config": asdict(self.config), "results": self.results,
                   "seconds": seconds, "wall_seconds_this_call": time.perf_counter() - started}  # fmt: skip
        (self.out / "learning.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        write_tables(summary, self.out / "learning.md")
        write_plot(summary, self.out / "learning.png")
        self.store.finish_run(self.run_id, {"seconds": seconds})
        return summary


# reporting ----------------------------------------------------------------------------------------------------------
def _rate(block: dict[str, Any]) -> str:
    lo, hi = block["ci95"]
    return f"{block['successes']}/{block['n']} = {block['rate']:.3f} ({lo:.3f}-{hi:.3f})"


def _iter_rate(it: dict[str, Any], key: str = "eval_pass_at_1") -> str:
    value = it.get(key, it.get("eval_success_rate"))
    if value is None:
        return "-"
    lo, hi = it["eval_ci95"]
    return f"{value:.3f} ({lo:.3f}-{hi:.3f})"


def _paired(p: dict[str, Any] | None) -> str:
    if not p:
        return "-"
    lo, hi = p["difference_ci95"]
    return (
        f"{p['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}], {p['only_baseline']}/{p['only_method']}, p={p['p_value']:.2g}"
    )


def write_tables(summary: dict[str, Any], path: Path) -> None:
    """Markdown tables of every part that ran."""
    r = summary["results"]
    lines = ["# Learning study", "", f"run {summary['run_id']}; seconds per part: "
             + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items() if v is not None), ""]  # fmt: skip
    header = ("| method | held-out success (95% CI) | vs its baseline: difference [95% CI], only-base/only-method, "
              "exact McNemar p |")  # fmt: skip
    if "warm" in r:
        w = r["warm"]
        suite = summary["config"].get("household_suite")
        lines += [f"## Household, valid_unseen{f' ({suite})' if suite else ''}", "", header, "|---|---|---|",
                  f"| base (few-shot ReAct prompt) | {_rate(w['eval']['base'])} | - |",
                  f"| warm start ({w['demos']['episodes']} expert demos, {w['finetune']}) | "
                  f"{_rate(w['eval']['warm_start'])} | {_paired(w.get('paired'))} (vs base) |"]  # fmt: skip
        for name in ("rest", "re-rest"):
            for it in r.get(name, {}).get("iterations", [])[1:]:
                lines.append(f"| {name} iteration {it['iteration']} (train success {it['train_success_rate']:.3f}, "
                             f"SFT {it['agent_sft_size']}) | {_iter_rate(it)} | {_paired(it.get('vs_base'))} "
                             "(vs warm start) |")  # fmt: skip
        for it in r.get("agent-r", {}).get("iterations", [])[1:]:
            lines.append(f"| agent-r iteration {it['iteration']} ({it['verified_revisions']} verified revisions) | "
                         f"{_iter_rate(it)} | {_paired(it.get('vs_base'))} (vs warm start) |")  # fmt: skip
        lines.append("")
    if "rest" in r and "re-rest" in r:
        lines += [_compare(summary, "rest", "re-rest", "household"), ""]
    if "rest" in r and "agent-r" in r:
        lines += [_compare(summary, "rest", "agent-r", "household"), ""]
    if "tt-si" in r:
        lines += _step_ttsi_table("Household TT-SI on the warm start (per agent step)", r["tt-si"])
    if "code-rest" in r:
        lines += ["## Code, graded test split (pass@1, greedy)", "", header, "|---|---|---|"]
        its = r["code-rest"]["iterations"]
        lines.append(f"| base | {_iter_rate(its[0])} | - |")
        for it in its[1:]:
            lines.append(
                f"| rest iteration {it['iteration']} (train success {it['train_success_rate']:.3f}, SFT "
                f"{it['agent_sft_size']}) | {_iter_rate(it)} | {_paired(it.get('vs_base'))} (vs base) |"
            )
        lines.append("")
        lines += [_code_tiers(summary), ""]
    if "tools-warm" in r:
        w = r["tools-warm"]
        lines += ["## Tools (function calling), test split", "", header, "|---|---|---|",
                  f"| base (default prompt with two expert episodes) | {_rate(w['eval']['base'])} | - |",
                  f"| warm start ({w['demos']['episodes']} expert demos, {w['finetune']}, compact prompt) | "
                  f"{_rate(w['eval']['warm_start'])} | {_paired(w.get('paired'))} (vs base) |"]  # fmt: skip
        for name in ("tools-rest", "tools-re-rest"):
            for it in r.get(name, {}).get("iterations", [])[1:]:
                lines.append(f"| {name.removeprefix('tools-')} iteration {it['iteration']} (train success "
                             f"{it['train_success_rate']:.3f}, SFT {it['agent_sft_size']}) | {_iter_rate(it)} | "
                             f"{_paired(it.get('vs_base'))} (vs warm start) |")  # fmt: skip
        for it in r.get("tools-agent-r", {}).get("iterations", [])[1:]:
            lines.append(f"| agent-r iteration {it['iteration']} ({it['verified_revisions']} verified revisions) | "
                         f"{_iter_rate(it)} | {_paired(it.get('vs_base'))} (vs warm start) |")  # fmt: skip
        lines.append("")
        for other in ("tools-re-rest", "tools-agent-r"):
            if "tools-rest" in r and other in r:
                lines += [_compare(summary, "tools-rest", other, "tools"), ""]
    if "tools-tt-si" in r:
        lines += _step_ttsi_table("Tools TT-SI on the tools warm start (per agent step)", r["tools-tt-si"])
    if "code-tt-si" in r:
        s = r["code-tt-si"]["tt-si"]
        lines += ["## Code TT-SI on the base model", "",
                  f"inputs {s['inputs']}; base {s['base']['passed']}/{s['base']['n']}, tt-si {s['adapted']['passed']}/"
                  f"{s['adapted']['n']}; uncertain share {_num(s['uncertain_share'])}; on uncertain inputs base "
                  f"{s['base_on_uncertain']['passed']}/{s['base_on_uncertain']['n']} vs tt-si "
                  f"{s['variant_on_uncertain']['passed']}/{s['variant_on_uncertain']['n']}; AUROC of confidence vs "
                  f"correctness {_num(s['auroc_confidence_vs_correct'])}", ""]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _step_ttsi_table(title: str, part: dict[str, Any]) -> list[str]:
    lines = [f"## {title}", "",
             "| variant | games won base / variant | uncertain share of steps | valid action on uncertain steps "
             "base / variant | AUROC confidence vs valid action | AUROC min confidence vs base won | adaptation s "
             "(median) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for variant, s in part.items():
        if variant.startswith("_"):  # the stage's own bookkeeping (`_seconds`)
            continue
        valid = s["valid_on_uncertain"]
        lines.append(f"| {variant} | {s['base']['passed']}/{s['base']['n']} / {s['adapted']['passed']}/"
                     f"{s['adapted']['n']} | {_num(s['uncertain_share'])} | {valid['base']['passed']}/"
                     f"{valid['base']['n']} / {valid['variant']['passed']}/{valid['variant']['n']} | "
                     f"{_num(s['auroc_confidence_vs_valid_action'])} | "
                     f"{_num(s.get('auroc_min_confidence_vs_base_won'))} | "
                     f"{_num(s['adaptation_seconds_per_uncertain']['median'], '.1f')} |")  # fmt: skip
    return [*lines, ""]


def _code_tiers(summary: dict[str, Any]) -> str:
    """Greedy pass@1 by tier of the graded suite, for the base and the last ReST iteration (same tasks)."""
    from agents.store import Store
    from environments.code.tasks import load_code_tasks
    from training.stages import StageBook, outcomes

    tier = {t.task_id: t.data["tier"] for t in load_code_tasks("graded", "test")}
    r = summary["results"]["code-rest"]
    last = r["iterations"][-1]["iteration"]
    with Store(Path(summary["out"]) / "kintsugi.db") as store:
        book = StageBook(store, r["run_id"])
        rows = {it: outcomes(store, book.get(it, "eval")["result"]["run_id"]) for it in sorted({0, last})}
    parts = []
    for t in sorted(set(tier.values())):
        cells = []
        for it, solved in rows.items():
            ids = [k for k in solved if tier.get(k) == t]
            cells.append(f"{'base' if it == 0 else f'iteration {it}'} {sum(solved[k] for k in ids)}/{len(ids)}")
        parts.append(f"tier {t}: " + ", ".join(cells))
    return "pass@1 by tier: " + "; ".join(parts)


def _num(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _compare(summary: dict[str, Any], a: str, b: str, env: str) -> str:
    """`b` vs `a` after their first iterations, paired on the same held-out tasks, with the LLM calls each made."""
    from agents.metrics import paired_comparison
    from agents.store import Store
    from training.stages import outcomes

    r = summary["results"]
    with Store(Path(summary["out"]) / "kintsugi.db") as store:
        runs = {k: _eval_run(store, r[k]["run_id"]) for k in (a, b)}
        missing = [k for k in (a, b) if runs[k] is None]
        if missing:
            return f"{b} vs {a} ({env}): not compared, {' and '.join(missing)} trained nothing in iteration 1"
        first_a, first_b = r[a]["iterations"][1], r[b]["iterations"][1]
        calls = {k: _llm_calls(store, r[k]["run_id"]) for k in (a, b)}
        p = paired_comparison(outcomes(store, runs[a]), outcomes(store, runs[b]))
    return (f"{b} vs {a} (first iterations, {env}): {_paired(p)}; LLM calls for training data: {a} {calls[a]}, "
            f"{b} {calls[b]}. ({a} {_iter_rate(first_a)}, {b} {_iter_rate(first_b)})")  # fmt: skip


def _eval_run(store: Any, trainer_run: str) -> str | None:
    """The agent run of iteration 1's evaluation (None when the iteration stopped before it: nothing to train on)."""
    from training.stages import StageBook

    stage = StageBook(store, trainer_run).get(1, "eval")
    return stage["result"]["run_id"] if stage else None


def _llm_calls(store: Any, trainer_run: str) -> int:
    """Model calls behind iteration 1's training data: sampled steps, reflections and retries, or search calls."""
    from training.stages import StageBook

    book = StageBook(store, trainer_run)
    calls = 0
    sample = book.get(1, "sample")
    if sample:
        calls += store.count_steps(sample["result"]["run_id"])
    search = book.get(1, "search")
    if search:
        calls += int(search["result"].get("llm_calls") or 0)
    reflect = book.get(1, "reflect")
    if reflect and sample:
        failures = reflect["result"]["failures"]
        calls += failures  # one reflection per failure and round; the retries' steps are in the sample run
    return calls


def write_plot(summary: dict[str, Any], path: Path) -> None:
    """Held-out success vs iteration, with 95% Wilson intervals, for household, code and tools."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = summary["results"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    ax = axes[0]
    if "warm" in r:
        w = r["warm"]["eval"]
        points = [("base", w["base"]["rate"], w["base"]["ci95"]), ("warm", w["warm_start"]["rate"],
                                                                  w["warm_start"]["ci95"])]  # fmt: skip
        xs = list(range(len(points)))
        _errorbar(ax, xs, points, "base -> warm start", "k")
        for name, colour, shift in (("rest", "tab:blue", 0.0), ("re-rest", "tab:orange", 0.1),
                                    ("agent-r", "tab:green", -0.1)):  # fmt: skip
            its = r.get(name, {}).get("iterations", [])[1:]
            pts = [(f"{name} {it['iteration']}", it.get("eval_pass_at_1", it.get("eval_success_rate")),
                    it["eval_ci95"]) for it in its if it.get("eval_ci95")]  # fmt: skip
            if pts:
                px = [1 + i + 1 + shift for i in range(len(pts))]
                _errorbar(ax, px, [points[1], *pts], name, colour, x0=1 + shift)
        ax.set_title("household valid_unseen: success")
        ax.set_xlabel("0 base, 1 warm start, 2.. iterations after it")
    ax = axes[1]
    if "code-rest" in r:
        its = r["code-rest"]["iterations"]
        pts = [(str(it["iteration"]), it["eval_pass_at_1"], it["eval_ci95"]) for it in its if it.get("eval_ci95")]
        _errorbar(ax, list(range(len(pts))), pts, "ReST", "tab:blue")
        ax.set_title("code graded test: pass@1")
        ax.set_xlabel("ReST iteration (0: base)")
    ax = axes[2]
    if "tools-warm" in r:
        w = r["tools-warm"]["eval"]
        points = [("base", w["base"]["rate"], w["base"]["ci95"]),
                  ("warm", w["warm_start"]["rate"], w["warm_start"]["ci95"])]  # fmt: skip
        _errorbar(ax, [0, 1], points, "base -> warm start", "k")
        its = r.get("tools-rest", {}).get("iterations", [])[1:]
        pts = [(str(it["iteration"]), it["eval_pass_at_1"], it["eval_ci95"]) for it in its if it.get("eval_ci95")]
        if pts:
            _errorbar(ax, [2 + i for i in range(len(pts))], [points[1], *pts], "rest", "tab:blue", x0=1)
        ax.set_title("tools test: success")
        ax.set_xlabel("0 base, 1 warm start, 2.. ReST iterations")
    for a, part in zip(axes, ("household", "code", "tools"), strict=True):
        a.set_ylim(0, 1)
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(loc="upper left")
        else:
            a.text(0.5, 0.5, f"{part} part not run", ha="center", va="center", transform=a.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _errorbar(ax: Any, xs: list[float], points: list[tuple], label: str, colour: str, x0: float | None = None) -> None:
    if x0 is not None:
        xs = [x0, *xs]
    ys = [p[1] for p in points]
    lo = [max(0.0, p[1] - p[2][0]) for p in points]  # a Wilson bound may sit a rounding error past the rate
    hi = [max(0.0, p[2][1] - p[1]) for p in points]
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label, color=colour)


def parse_setting(item: str) -> tuple[str, Any]:
    """`FIELD=VALUE` as a StudyConfig field and its value, typed by the field (`none` for an optional one)."""
    import math
    from dataclasses import fields

    name, sep, text = item.partition("=")
    types = {f.name: str(f.type) for f in fields(StudyConfig) if f.name != "parts"}  # parts: --parts
    if not sep or name not in types:
        raise ValueError(f"--set {item}: give FIELD=VALUE with FIELD one of {', '.join(types)}")
    kind = types[name]
    if "None" in kind and text.lower() == "none":
        return name, None
    try:
        if kind.startswith("bool"):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return name, text.lower() == "true"
        if kind.startswith(("int", "float")):
            value = int(text) if kind.startswith("int") else float(text)
            if not math.isfinite(value) or value < 0:
                raise ValueError
            return name, value
    except ValueError:
        raise ValueError(f"--set {item}: {name} takes a {kind} (numbers at least 0)") from None
    return name, text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="Study folder (default runs/learning[-quick]).")
    parser.add_argument("--quick", action="store_true", help="The reduced study (about 21 minutes on 2 CPUs).")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue the latest study in OUT (with "
        "--rest-iterations N a finished ReST part runs the iterations it lacks; with --parts, run those parts "
        "on it).",
    )
    parser.add_argument(
        "--parts", default=None, help=f"Comma-separated parts (default all: {','.join(StudyConfig.parts)})."
    )
    parser.add_argument(
        "--warm-run", default=None, help="Build on this finished warm-start run in OUT's store instead of a new one."
    )
    parser.add_argument("--rest-iterations", type=int, default=None, help="ReST iterations (default 3; quick 1).")
    parser.add_argument("--backend", default="vllm", help="vllm (a CPU server, `make setup-vllm`) or transformers.")
    parser.add_argument("--ttsi-games", type=int, default=None, help="Held-out games TT-SI plays (default 12).")
    parser.add_argument("--ray", default=None, help="Play every part's episodes on Ray: auto or HOST:PORT.")
    parser.add_argument("--ray-workers", type=int, default=2, help="Episode workers on Ray (with --ray).")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="Change one setting of a new study (a StudyConfig field, e.g. code_eval_limit=24; repeatable).",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    for name in ("learning", "agents", "training", "reflection"):  # not litellm's per-request lines
        logging.getLogger(name).setLevel(logging.INFO if args.verbose else logging.WARNING)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    unknown = [p for p in (args.parts or "").split(",") if p.strip() and p.strip() not in StudyConfig.parts]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(StudyConfig.parts)}")
    out = args.out or Path("runs/learning-quick" if args.quick else "runs/learning")
    config = replace(QUICK if args.quick else StudyConfig(), backend=args.backend, warm_run=args.warm_run,
                     ray=args.ray, ray_workers=args.ray_workers)  # fmt: skip
    try:
        settings = dict(parse_setting(item) for item in args.set)
    except ValueError as exc:
        parser.error(str(exc))
    config = replace(config, **settings)
    if args.rest_iterations is not None:
        config = replace(config, rest_iterations=args.rest_iterations)
    if args.ttsi_games is not None:
        config = replace(config, ttsi_games=args.ttsi_games)
    if args.parts:
        config = replace(config, parts=tuple(p.strip() for p in args.parts.split(",") if p.strip()))
    run_id = None
    if args.resume:
        from agents.store import Store

        with Store(out / "kintsugi.db") as store:
            prior = store.latest_run(kind="learning")
            ran = set() if prior is None else {
                row[0] for row in store.db.execute("SELECT stage FROM stages WHERE run_id = ?", (prior["id"],))
            }  # fmt: skip
        if prior is None:
            parser.error(f"nothing to resume in {out}")
        run_id = prior["id"]
        config = StudyConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in prior["config"].items()})
        config = replace(config, ray=args.ray, ray_workers=args.ray_workers)  # where episodes play, not what
        for name, value in settings.items():  # a resumed study keeps the settings it was started with
            if getattr(config, name) != value:
                parser.error(f"--set {name}={value} contradicts study {run_id}, started with {getattr(config, name)}")
        if args.rest_iterations is not None:  # a finished ReST part continues with the iterations it lacks
            config = replace(config, rest_iterations=args.rest_iterations)
        if args.ttsi_games is not None:  # for a TT-SI part not yet run
            config = replace(config, ttsi_games=args.ttsi_games)
        if args.parts:  # more parts on the same study; the finished ones are read back, not redone
            # with every part an earlier resume added (its results are in the stage book, not the stored config)
            wanted = set(config.parts) | ran | {p.strip() for p in args.parts.split(",") if p.strip()}
            config = replace(config, parts=tuple(p for p in StudyConfig.parts if p in wanted))
    study = Study(out, config, run_id)
    summary = study.run()
    print((out / "learning.md").read_text(encoding="utf-8"))
    print(f"json: {out / 'learning.json'}  plot: {out / 'learning.png'}")
    return summary


if __name__ == "__main__":
    main()
