"""Revision trajectories (Agent-R), verified by the environment.

From a search tree: pair a failed and a successful path that part at some node, cut the failed path at its
first error (judged by the actor model), write a revision thought with the model, and splice. Unlike the
released Agent-R code, the splice is replayed in the environment from a reset: bad prefix, then the revision
thought, then the successful path's actions, which must be valid in the state the bad prefix really left.
When they are not (or they no longer succeed), a continuation is searched from that real state: a small MCTS
with the model, then the env's expert where it has one (`RevisionConfig.resolve`). Only splices that a final
clean replay confirms end in success are kept; every rejected splice is recorded with its reason.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agents.store import Store, new_id
from agents.types import LLM, Messages, Source, Step, Trajectory
from environments.base import EnvEntry, Environment
from reflection.first_error import PathStep, find_first_error
from reflection.mcts import MCTS, Expert, MCTSConfig, Node, Tree
from reflection.tree_store import RevisionRow, TreeStore

RESOLVERS = ("none", "mcts", "expert", "mcts+expert")
THOUGHT_PROMPT = (
    "You are an agent in a text environment and you have just made a mistake. Write one short sentence in the "
    "first person that names the mistake and says what you will do next. Reply with the sentence only."
)
FALLBACK_THOUGHTS: tuple[str, ...] = (
    "I made a mistake: '{bad}' does not help with the task, so I will {good} instead.",
    "'{bad}' was the wrong move here; next I will {good}.",
    "That step ('{bad}') did not get me closer to the goal. I should {good}.",
)
"""Used only when the model's sentence is empty, too long, or names nothing from the actions."""
_FILLER = frozenset(
    {"go", "to", "take", "from", "move", "open", "close", "use", "heat", "cool", "clean", "with", "examine"}
    | {"look", "inventory", "the", "a", "an", "in", "on", "put"}
)


@dataclass(frozen=True)
class RevisionConfig:
    """How pairs are chosen, cut, explained and verified."""

    alpha: float = 0.5
    """The successful path's value must exceed this (household pays 1.0 on success)."""
    beta: float = 0.25
    """The value gap between the successful and the failed path must exceed this."""
    max_pairs_per_tree: int = 2
    """Most failed paths revised per tree (the longest shared prefix first)."""
    judge: str = "score"
    """First-error judge: `score` (label likelihoods), `generate`, or `none` (cut where the paths part)."""
    calibrate: bool = True
    """Subtract each label's NLL on a content-free step before comparing (contextual calibration)."""
    thought: str = "model"
    """`model` writes the revision thought (fixed templates as fallback); `fallback` uses the templates only."""
    thought_max_tokens: int = 40
    """Token budget of the model's revision thought."""
    resolve: str = "mcts+expert"
    """When the good path fails after the bad prefix: `none` (reject), `mcts`, `expert`, or `mcts+expert`."""
    resolve_iterations: int = 4
    """Iterations of the continuation search."""
    max_continuation: int = 30
    """Most continuation steps (expert or searched) after the revision thought."""

    def __post_init__(self) -> None:
        if self.resolve not in RESOLVERS:
            raise ValueError(f"resolve must be one of {', '.join(RESOLVERS)}; got {self.resolve!r}")
        if self.judge not in ("score", "generate", "none"):
            raise ValueError(f"judge must be score, generate or none; got {self.judge!r}")


@dataclass(frozen=True)
class Pair:
    """A failed and a successful leaf whose paths part at depth `divergence`."""

    bad: int
    good: int
    divergence: int
    bad_value: float
    good_value: float


def path_value(node: Node) -> float:
    """A finished path's value: the terminal reward (negative counts as 0), 0 when it ended unsolved."""
    return max(0.0, float(node.reward)) if node.terminated else 0.0


def is_pair(good_value: float | str, bad_value: float | str, alpha: float | str, beta: float | str) -> bool:
    """Agent-R's rule, on numbers (strings are converted, never compared as text): good > alpha, gap > beta."""
    good, bad = float(good_value), float(bad_value)
    return good > float(alpha) and good - bad > float(beta)


def _ancestors(tree: Tree, node: Node) -> list[int]:
    return [tree.root.id] + [n.id for n in tree.path(node)]


def find_pairs(tree: Tree, alpha: float = 0.5, beta: float = 0.25, max_pairs: int | None = None) -> list[Pair]:
    """Pairs of (failed finished leaf, successful leaf) under the rule; each failed leaf gets its closest success."""
    goods = [n for n in tree.leaves() if tree.ended(n) and path_value(n) > float(alpha)]
    bads = [n for n in tree.leaves() if tree.ended(n) and not n.success]
    pairs = []
    for bad in bads:
        bad_anc = _ancestors(tree, bad)
        best: tuple[tuple[int, int, int], Pair] | None = None
        for good in goods:
            if not is_pair(path_value(good), path_value(bad), alpha, beta):
                continue
            good_anc = _ancestors(tree, good)
            shared = 0
            while shared < min(len(bad_anc), len(good_anc)) and bad_anc[shared] == good_anc[shared]:
                shared += 1
            pair = Pair(bad.id, good.id, shared - 1, path_value(bad), path_value(good))
            key = (-pair.divergence, good.depth, good.id)
            if best is None or key < best[0]:
                best = (key, pair)
        if best is not None:
            pairs.append(best[1])
    pairs.sort(key=lambda p: (-p.divergence, -tree.nodes[p.bad].depth, p.bad))
    return pairs[:max_pairs] if max_pairs is not None else pairs


@dataclass(frozen=True)
class SpliceStep:
    """An action to replay and the reply it is stored with."""

    action: str
    model_output: str
    part: str = "continuation"
    """`prefix`, `thought` or `continuation`."""


@dataclass(frozen=True)
class Replay:
    """What the environment did with a spliced action list."""

    steps: tuple[Step, ...]
    success: bool
    error: str = ""
    """Why the replay stopped early (an action that was not admissible, a prefix that replayed differently)."""
    invalid_at: int | None = None
    """Index in the replayed list of the first inadmissible continuation action."""
    diverged: bool = False
    """The reset or a stored step did not reproduce what the tree recorded (the env is not deterministic)."""


def replay_splice(
    env: Environment,
    seed: int | None,
    items: Sequence[SpliceStep],
    *,
    expected: Sequence[str | None] = (),
    initial_observation: str | None = None,
) -> Replay:
    """Reset `env` and replay `items`, stopping at the first inadmissible continuation action (where listed).

    Prefix and thought steps are replayed as they were taken, valid or not.

    `expected[i]`, where given, is the observation item i must reproduce (the stored bad prefix).
    """
    obs, info = env.reset(seed=seed)
    if initial_observation is not None and obs != initial_observation:
        return Replay((), False, "the reset observation differs from the tree's", diverged=True)
    steps: list[Step] = []
    for i, item in enumerate(items):
        admissible = info.get("admissible_actions")
        checked = item.part == "continuation" and not item.action.startswith("think:")
        if admissible is not None and checked and item.action not in admissible:
            return Replay(tuple(steps), False, f"{item.part} action {item.action!r} is not valid here", i)
        obs, reward, terminated, truncated, info = env.step(item.action)
        steps.append(
            Step(
                index=i,
                model_output=item.model_output,
                action=item.action,
                observation=obs,
                reward=float(reward),
                terminated=bool(terminated),
                truncated=bool(truncated),
                info={"part": item.part},
            )
        )
        if i < len(expected) and expected[i] is not None and obs != expected[i]:
            return Replay(tuple(steps), False, f"step {i} replayed differently from the tree", diverged=True)
        if terminated or truncated:
            success = bool(terminated) and reward > 0 and i == len(items) - 1
            error = "" if success else f"the episode ended at step {i} of {len(items)} without success"
            if terminated and reward > 0 and i < len(items) - 1:
                error = f"the episode was solved early, at step {i} (a {item.part} step)"
            return Replay(tuple(steps), success, error)
    return Replay(tuple(steps), False, "the actions ran out before the task was solved")


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _FILLER and len(w) > 2}


def fallback_thought(bad_action: str, good_action: str, key: str) -> str:
    """A fixed template filled with the actions (chosen by `key`, so reruns agree)."""
    template = FALLBACK_THOUGHTS[zlib.crc32(key.encode()) % len(FALLBACK_THOUGHTS)]
    return template.format(bad=bad_action, good=good_action or "try another way")


def write_thought(
    llm: LLM,
    task: str,
    prefix: Sequence[PathStep],
    continuation: Sequence[str],
    *,
    key: str,
    max_tokens: int = 40,
    use_model: bool = True,
) -> tuple[str, str]:
    """The revision thought and where it came from (`model` or `fallback`).

    The model sees the task, the failed prefix (its last step is the error) and the actions that will follow; its
    sentence is kept when it is 12-200 characters and names something from the bad step or the continuation.
    """
    bad = prefix[-1].action if prefix else ""
    nxt = continuation[0] if continuation else ""
    if use_model:
        history = "\n".join(f"> {s.action}\n{s.observation}" for s in prefix[-6:])
        plan = ", then ".join(continuation[:3])
        user = (
            f"{task}\n\nYour steps so far:\n{history}\n\nYour last step, '{bad}', was a mistake. "
            f"What you should do next: {plan}.\nWrite the sentence."
        )
        msgs: Messages = [{"role": "system", "content": THOUGHT_PROMPT}, {"role": "user", "content": user}]
        text = llm.generate(msgs, n=1, temperature=0.0, max_tokens=max_tokens, stop=["\n"])[0].text
        text = re.sub(r"^\s*(think:)?\s*", "", text.strip(), flags=re.I).strip().strip('"').strip()
        names = _content_words(bad + " " + " ".join(continuation[:3]))
        if 12 <= len(text) <= 200 and _content_words(text) & names:
            return text, "model"
    return fallback_thought(bad, nxt, key), "fallback"


def _task_text(tree: Tree) -> str:
    lines = [ln for ln in tree.initial_observation.splitlines() if ln.strip()]
    task = next((ln for ln in lines if ln.lower().startswith("your task")), None)
    return task or tree.initial_observation[-400:]


@dataclass(frozen=True)
class RevisionOutcome:
    """A tried splice: its stored row and, when verified, the revised trajectory."""

    row: RevisionRow
    revised: Trajectory | None = None
    bad: Trajectory | None = None


EnvMaker = Callable[[], Environment]


class Reviser:
    """Turns a tree's pairs into verified revision trajectories (and records every rejected splice)."""

    def __init__(
        self,
        llm: LLM,
        entry: EnvEntry,
        make_env: EnvMaker,
        config: RevisionConfig,
        search: MCTSConfig,
        *,
        expert: Expert | None = None,
    ) -> None:
        self.llm = llm
        self.entry = entry
        self.make_env = make_env
        self.config = config
        self.search = search
        self.expert = expert if expert is not None else entry.oracle
        self.think = entry.thought_prefix

    def revise(
        self, tree: Tree, *, store: Store | None = None, run_id: str | None = None, calls: Callable[[], int] = int
    ) -> list[RevisionOutcome]:
        """Every pair of `tree` tried as a splice; stored (trajectories + `tree_revisions`) when `store` is given."""
        pairs = find_pairs(tree, self.config.alpha, self.config.beta, self.config.max_pairs_per_tree)
        trees = TreeStore(store) if store is not None else None
        out = []
        bad_trajs: dict[int, Trajectory] = {}
        for pair in pairs:
            before = calls()
            outcome = self.revise_pair(tree, pair)
            row = replace(outcome.row, run_id=run_id, llm_calls=calls() - before)
            bad = outcome.bad
            revised = outcome.revised
            if store is not None and trees is not None and run_id is not None and bad is not None:
                if pair.bad not in bad_trajs:
                    bad_trajs[pair.bad] = _save(store, replace(bad, run_id=run_id))
                bad = bad_trajs[pair.bad]
                row = replace(row, bad_trajectory_id=bad.id)
                if revised is not None:
                    revised = _save(store, replace(revised, run_id=run_id, parent_id=bad.id))
                    row = replace(row, revised_trajectory_id=revised.id)
                if "continuation_tree" in row.details:
                    trees.save_tree(Tree.from_dict(row.details.pop("continuation_tree")), run_id)
                trees.add_revision(row)
            else:
                row.details.pop("continuation_tree", None)
            out.append(RevisionOutcome(row, revised, bad))
        return out

    def revise_pair(self, tree: Tree, pair: Pair) -> RevisionOutcome:
        """Cut, explain, splice and verify one pair (nothing is stored here)."""
        if tree.prefix:
            raise ValueError(f"tree {tree.id} starts after a prefix ({tree.kind}); revise the task's own tree")
        bad_path = tree.path(tree.nodes[pair.bad])
        good_path = tree.path(tree.nodes[pair.good])
        d = pair.divergence
        rid = new_id("rev")
        task = _task_text(tree)
        judged = [PathStep(n.action, n.observation) for n in bad_path]
        cut, source, judgements = None, "divergence", []
        if self.config.judge != "none":
            cut, judgements = find_first_error(
                self.llm, task, judged, start=d, method=self.config.judge, calibrate=self.config.calibrate
            )
            source = "model" if cut is not None else "divergence"
        cut = d if cut is None else cut
        prefix = [SpliceStep(n.action, n.model_output, "prefix") for n in bad_path[: cut + 1]]
        good = [SpliceStep(n.action, n.model_output) for n in good_path[d:]]
        bad_traj = _path_trajectory(tree, bad_path, Source.SAMPLED, {"origin": "mcts", "node": pair.bad})
        details: dict[str, Any] = {
            "bad_value": pair.bad_value,
            "good_value": pair.good_value,
            "judgements": [{"index": j.index, "verdict": str(j.verdict), "nll": j.nll} for j in judgements],
        }
        base = RevisionRow(
            id=rid,
            tree_id=tree.id,
            task_id=tree.task_id,
            bad_node=pair.bad,
            good_node=pair.good,
            divergence=d,
            cut=cut,
            first_error_source=source,
            thought="",
            thought_source="",
            status="rejected",
            completion_start=len(prefix),
            chosen=good_path[d].model_output,
            rejected=bad_path[d].model_output,
            details=details,
        )
        placeholder = SpliceStep(f"{self.think}...", f"{self.think}...", "thought") if self.think else None
        head = [*prefix, *([placeholder] if placeholder else [])]
        env = self.make_env()
        try:
            expected = [n.observation for n in bad_path[: cut + 1]]
            first = replay_splice(
                env, tree.seed, [*head, *good], expected=expected, initial_observation=tree.initial_observation
            )
            continuation, how = (good, "good_path") if first.success else (None, "")
            if first.success:
                details["continuation_origins"] = [n.origin for n in good_path[d:]]
            if first.diverged or len(first.steps) < len(head):
                reason = f"bad prefix does not replay: {first.error}"
                return RevisionOutcome(replace(base, reason=reason), None, bad_traj)
            if continuation is None:
                details["good_path"] = first.error
                continuation, how = self._resolve(tree, env, head, details, rid)
            if continuation is None:
                reason = f"good path after the bad prefix: {first.error}; " + details.get("resolve", "not re-searched")
                return RevisionOutcome(replace(base, reason=reason), None, bad_traj)
            thought, thought_source = write_thought(
                self.llm,
                task,
                judged[: cut + 1],
                [s.action for s in continuation],
                key=f"{tree.task_id}:{tree.seed}:{pair.bad}:{pair.good}",  # not the random id: reruns agree
                max_tokens=self.config.thought_max_tokens,
                use_model=self.config.thought == "model",
            )
            items = list(prefix)
            if self.think:
                items.append(SpliceStep(self.think + thought, self.think + thought, "thought"))
            else:
                first_step = continuation[0]
                continuation = [
                    replace(first_step, model_output=f"{thought}\n{first_step.model_output}"),
                    *continuation[1:],
                ]
            items += continuation
            final = replay_splice(
                env, tree.seed, items, expected=expected, initial_observation=tree.initial_observation
            )
        finally:
            env.close()
        row = replace(base, thought=thought, thought_source=thought_source, continuation=how)
        if not final.success:
            return RevisionOutcome(replace(row, reason=f"final replay: {final.error}"), None, bad_traj)
        revised = replace(
            bad_traj,
            id=new_id("traj"),
            steps=final.steps,
            source=Source.REVISED,
            meta={
                "origin": "mcts",
                "revision_id": rid,
                "tree_id": tree.id,
                "completion_start": len(prefix),
                "continuation": how,
                "thought_source": thought_source,
                "first_error_source": source,
            },
        )
        return RevisionOutcome(replace(row, status="verified"), revised, bad_traj)

    def _resolve(
        self, tree: Tree, env: Environment, head: list[SpliceStep], details: dict[str, Any], rid: str
    ) -> tuple[list[SpliceStep] | None, str]:
        """A continuation from the real state after `head`: model search first, then the expert (per config)."""
        notes = []
        if self.config.resolve in ("mcts", "mcts+expert"):
            found = self._search_continuation(tree, env, head, details, rid)
            if found is not None:
                return found, "mcts"
            notes.append(f"continuation search ({self.config.resolve_iterations} iterations) found no success")
        if self.config.resolve in ("expert", "mcts+expert"):
            if self.expert is None:
                notes.append(f"environment {self.entry.name!r} has no expert")
            else:
                found = self._expert_continuation(tree, env, head)
                if found is not None:
                    details["continuation_origins"] = ["expert"] * len(found)
                    return found, "expert"
                notes.append("the expert found no continuation")
        details["resolve"] = "; ".join(notes) or "re-search disabled (resolve=none)"
        return None, ""

    def _search_continuation(
        self, tree: Tree, env: Environment, head: list[SpliceStep], details: dict[str, Any], rid: str
    ) -> list[SpliceStep] | None:
        prefix = replay_splice(env, tree.seed, head)
        depth = max(1, int(tree.config.get("max_depth", self.search.max_depth)))
        config = replace(self.search, iterations=self.config.resolve_iterations, max_depth=depth)
        sub = Tree(
            id=f"{tree.id}-{rid}",
            task_id=tree.task_id,
            env=tree.env,
            system_prompt=tree.system_prompt,
            initial_observation=tree.initial_observation,
            seed=tree.seed,
            config={**tree.config, "max_depth": depth, "iterations": config.iterations},
            model=tree.model,
            prefix=[
                {"action": s.action, "model_output": s.model_output, "observation": st.observation}
                for s, st in zip(head, prefix.steps, strict=True)
            ],
            kind="continuation",
            parent_tree=tree.id,
        )
        MCTS(self.llm, self.entry, config, expert=self.expert).search(sub, env)
        details["continuation_tree"] = sub.to_dict()
        details["continuation_tree_id"] = sub.id
        wins = sorted(sub.successes(), key=lambda n: (n.depth, n.id))
        if not wins:
            return None
        path = sub.path(wins[0])
        details["continuation_origins"] = [n.origin for n in path]
        return [SpliceStep(n.action, n.model_output) for n in path]

    def _expert_continuation(self, tree: Tree, env: Environment, head: list[SpliceStep]) -> list[SpliceStep] | None:
        assert self.expert is not None
        replay_splice(env, tree.seed, head)
        out: list[SpliceStep] = []
        for _ in range(self.config.max_continuation):
            action = self.expert(env)
            if action is None:
                break
            out.append(SpliceStep(action, action))
            *_, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        return out or None


def _path_trajectory(tree: Tree, path: Sequence[Node], source: Source, meta: dict[str, Any]) -> Trajectory:
    steps = tuple(
        Step(
            index=i,
            model_output=n.model_output,
            action=n.action,
            observation=n.observation,
            reward=n.reward,
            terminated=n.terminated,
            truncated=n.truncated,
            info={"node": n.id, "origin": n.origin},
        )
        for i, n in enumerate(path)
    )
    return Trajectory(
        id=new_id("traj"),
        run_id="",
        task_id=tree.task_id,
        env=tree.env,
        system_prompt=tree.system_prompt,
        initial_observation=tree.initial_observation,
        steps=steps,
        seed=tree.seed,
        source=source,
        model=tree.model,
        status="done",
        meta={**meta, "tree_id": tree.id},
    )


def _save(store: Store, traj: Trajectory) -> Trajectory:
    store.start_trajectory(replace(traj, steps=()))
    for step in traj.steps:
        store.add_step(traj.id, step)
    return store.finish_trajectory(traj.id, meta=traj.meta)


def sft_record(traj: Trajectory, completion_start: int) -> dict[str, Messages]:
    """TRL conversational prompt-completion: prompt = task + failed prefix, completion = thought + continuation."""
    msgs = traj.to_messages()
    split = 2 + 2 * completion_start
    return {"prompt": msgs[:split], "completion": msgs[split:]}


def dpo_record(bad: Trajectory, divergence: int, chosen: str, rejected: str) -> dict[str, Messages]:
    """TRL conversational preference record at the divergence point (the shared prefix is the prompt)."""
    prompt = replace(bad, steps=bad.steps[:divergence]).to_messages(open_ended=True)
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


CONTINUATIONS = ("good_path", "mcts", "expert")


def export_records(
    store: Store, run_id: str | None = None, *, continuations: Sequence[str] = CONTINUATIONS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SFT and DPO records of the verified revisions only (each carries its `revision_id` for provenance).

    `continuations` keeps only splices continued that way (e.g. leave out `expert` for model-only data).
    """
    sft, dpo = [], []
    for row in TreeStore(store).revisions(run_id, status="verified"):
        if row.revised_trajectory_id is None or row.bad_trajectory_id is None or row.completion_start is None:
            continue
        if row.continuation not in continuations:
            continue
        revised = store.get_trajectory(row.revised_trajectory_id)
        if revised.source is not Source.REVISED or not revised.success:
            continue
        sft.append({**sft_record(revised, row.completion_start), "revision_id": row.id})
        if row.chosen is not None and row.rejected is not None and row.chosen != row.rejected:
            bad = store.get_trajectory(row.bad_trajectory_id)
            dpo.append({**dpo_record(bad, row.divergence, row.chosen, row.rejected), "revision_id": row.id})
    return sft, dpo


def write_records(store: Store, out_dir: Path, run_id: str | None = None) -> dict[str, Path]:
    """Write `revisions_sft.jsonl` and `revisions_dpo.jsonl` (verified revisions only) into `out_dir`."""
    import json

    sft, dpo = export_records(store, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"sft": out_dir / "revisions_sft.jsonl", "dpo": out_dir / "revisions_dpo.jsonl"}
    for key, records in (("sft", sft), ("dpo", dpo)):
        with paths[key].open("w") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    return paths
