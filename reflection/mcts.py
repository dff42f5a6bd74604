"""Monte-Carlo tree search over an agent's actions (Agent-R's search) for any environment that follows the contract.

One tree per task. Each iteration selects a leaf by UCT (unvisited children first), expands it with actions
sampled from the model (deduplicated; optionally mapped onto / filled with the environment's admissible
actions), values the new node by the environment's terminal reward (after an optional rollout) and backs the
value up. Nodes are rebuilt by restoring a snapshot where the environment offers `snapshot()`/`restore()`,
otherwise by resetting and replaying the actions on the path.
"""

from __future__ import annotations

import difflib
import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agents.types import LLM, CandidateScore, Completion, Messages
from environments.base import EnvEntry, Environment, TaskSpec

ROLLOUTS = ("none", "llm", "random", "expert")
ADMISSIBLE_MODES = ("off", "map", "map+fill")


@dataclass(frozen=True)
class MCTSConfig:
    """How one task's tree is searched (defaults follow Agent-R)."""

    iterations: int = 4
    """Select-expand-evaluate-backup rounds per tree (Agent-R: 4)."""
    expansions: int = 4
    """Replies sampled from the model per expansion, before deduplication (Agent-R: 4)."""
    max_depth: int = 10
    """Most actions on a path from the root; deeper nodes are not expanded (Agent-R: 10)."""
    exploration: float = 0.25
    """UCT exploration constant c in Q/N + c·sqrt(ln N_parent / N) (Agent-R: 0.25)."""
    rollout: str = "none"
    """How a new node is valued: `none` (its own reward, as Agent-R), `llm` (greedy model), `random`, `expert`."""
    temperature: float = 0.8
    """Sampling temperature of the expansions (rollouts are greedy)."""
    max_tokens: int | None = None
    """Tokens per sampled reply (None: the environment's default)."""
    admissible: str = "map"
    """Where the env lists admissible actions: `off`, `map` (snap a reply to the closest one or drop it), `map+fill`."""
    map_cutoff: float = 0.6
    """Least similarity (difflib ratio, 0-1) for a reply to be mapped onto an admissible action."""
    allow_thoughts: bool = False
    """Keep `think:` replies as children (they change nothing, so they only spend depth)."""
    use_snapshots: bool = True
    """Rebuild nodes from env snapshots where the env has `snapshot()`/`restore()` (else reset + replay)."""
    system_prompt: str | None = None
    """The agent's system prompt (None: the environment's own, with its few-shot examples)."""
    seed: int = 0
    """Seed for sampling and for the admissible fill."""

    def __post_init__(self) -> None:
        if self.rollout not in ROLLOUTS:
            raise ValueError(f"rollout must be one of {', '.join(ROLLOUTS)}; got {self.rollout!r}")
        if self.admissible not in ADMISSIBLE_MODES:
            raise ValueError(f"admissible must be one of {', '.join(ADMISSIBLE_MODES)}; got {self.admissible!r}")
        if self.iterations < 1 or self.expansions < 1 or self.max_depth < 1:
            raise ValueError("iterations, expansions and max_depth must all be at least 1")


@dataclass
class Node:
    """One state of the search: the action that led here and what the environment answered."""

    id: int
    parent: int | None
    depth: int
    action: str = ""
    model_output: str = ""
    """The reply stored as the agent's turn (the admissible action itself when a reply was mapped or filled)."""
    observation: str = ""
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    origin: str = "root"
    """`root`, `model` (a sampled reply as is), `mapped`, `fill`, `rollout-<policy>`, or `prefix`."""
    visits: int = 0
    value_sum: float = 0.0
    expanded: bool = False
    children: list[int] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    """Details worth keeping (the raw sampled reply, its log-probability)."""

    @property
    def q(self) -> float:
        """Mean backed-up value (0 while unvisited)."""
        return self.value_sum / self.visits if self.visits else 0.0

    @property
    def success(self) -> bool:
        return self.terminated and self.reward > 0


@dataclass
class Tree:
    """A task's search tree; node 0 is the root (the state after `prefix`, usually the reset state)."""

    id: str
    task_id: str
    env: str
    system_prompt: str
    initial_observation: str
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    prefix: list[dict[str, Any]] = field(default_factory=list)
    """Steps replayed before the root ({action, model_output, observation}); empty for a task's own tree."""
    kind: str = "task"
    """`task` (searched from the reset state) or `continuation` (searched from a spliced state)."""
    parent_tree: str | None = None
    nodes: list[Node] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes.append(Node(id=0, parent=None, depth=0))

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def add_child(self, parent: Node, **fields: Any) -> Node:
        node = Node(id=len(self.nodes), parent=parent.id, depth=parent.depth + 1, **fields)
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    def path(self, node: Node) -> list[Node]:
        """The nodes from the root's first child down to `node`."""
        out = []
        while node.parent is not None:
            out.append(node)
            node = self.nodes[node.parent]
        return out[::-1]

    def messages(self, node: Node) -> Messages:
        """The agent's conversation at `node`, ending with the environment's last observation."""
        msgs: Messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": self.initial_observation},
        ]
        for step in self.prefix:
            msgs += [
                {"role": "assistant", "content": step["model_output"]},
                {"role": "user", "content": step["observation"]},
            ]
        for n in self.path(node):
            msgs += [{"role": "assistant", "content": n.model_output}, {"role": "user", "content": n.observation}]
        return msgs

    def leaves(self) -> list[Node]:
        return [n for n in self.nodes if not n.children and n.parent is not None]

    def ended(self, node: Node) -> bool:
        """The path to `node` is over: the env ended it or it reached the depth limit."""
        return node.terminated or node.truncated or node.depth >= int(self.config.get("max_depth", 10))

    def successes(self) -> list[Node]:
        return [n for n in self.nodes if n.success]

    @property
    def success(self) -> bool:
        return any(n.success for n in self.nodes)

    def taken_path(self) -> list[Node]:
        """The path to show: to the shallowest success if any, else down the most-visited children."""
        wins = sorted(self.successes(), key=lambda n: (n.depth, n.id))
        if wins:
            return self.path(wins[0])
        node, out = self.root, []
        while node.children:
            node = max((self.nodes[c] for c in node.children), key=lambda c: (c.visits, c.q, -c.id))
            out.append(node)
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["success"] = self.success
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        fields_ = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "nodes"}
        return cls(**fields_, nodes=[Node(**n) for n in data.get("nodes", [])])


def uct(value_sum: float, visits: int, parent_visits: int, c: float) -> float:
    """UCT score: infinite while unvisited, else Q/N + c·sqrt(ln N_parent / N)."""
    if visits == 0:
        return math.inf
    return value_sum / visits + c * math.sqrt(math.log(max(parent_visits, 1)) / visits)


def select_child(tree: Tree, node: Node, c: float) -> Node:
    """The child to descend into: the first unvisited one, else the highest UCT (earliest on ties)."""
    kids = [tree.nodes[i] for i in node.children]
    if not kids:
        raise ValueError(f"node {node.id} has no children to select from")
    for kid in kids:
        if kid.visits == 0:
            return kid
    return max(kids, key=lambda k: (uct(k.value_sum, k.visits, node.visits, c), -k.id))


class CountingLLM:
    """Wraps an LLM and counts its calls (for cost per verified revision); otherwise transparent."""

    def __init__(self, llm: LLM) -> None:
        self.inner = llm
        self.model_id = llm.model_id
        self.adapter = llm.adapter
        self.concurrent = getattr(llm, "concurrent", False)
        self.calls = 0
        self.sequences = 0
        self.seconds = 0.0
        self._lock = threading.Lock()  # trees may be searched from several threads at once

    def _count(self, start: float, sequences: int) -> None:
        with self._lock:
            self.seconds += time.perf_counter() - start
            self.calls += 1
            self.sequences += sequences

    def generate(self, messages: Messages, **kwargs: Any) -> list[Completion]:
        start = time.perf_counter()
        out = self.inner.generate(messages, **kwargs)
        self._count(start, len(out))
        return out

    def generate_batch(self, conversations: Sequence[Messages], **kwargs: Any) -> list[list[Completion]]:
        start = time.perf_counter()
        out = self.inner.generate_batch(conversations, **kwargs)
        self._count(start, sum(len(o) for o in out))
        return out

    def score(self, messages: Messages, candidates: Sequence[str]) -> list[CandidateScore]:
        start = time.perf_counter()
        out = self.inner.score(messages, candidates)
        self._count(start, 0)
        return out

    def with_adapter(self, path: str | None) -> LLM:
        return self.inner.with_adapter(path)


Expert = Callable[[Environment], "str | None"]


def _is_thought(entry: EnvEntry, action: str) -> bool:
    """Whether `action` is a thought in the environment's own form (`EnvEntry.thought_prefix`)."""
    prefix = (entry.thought_prefix or "").strip()
    return bool(prefix) and action.startswith(prefix)


class EnvDriver:
    """Moves one environment between tree nodes: restores snapshots where it can, else resets and replays."""

    def __init__(self, env: Environment, seed: int | None, use_snapshots: bool = True) -> None:
        self.env = env
        self.seed = seed
        self.snapshots = use_snapshots and hasattr(env, "snapshot") and hasattr(env, "restore")
        self._saved: dict[int, Any] = {}
        self._infos: dict[int, dict[str, Any]] = {}
        self.replays = 0
        self.restores = 0
        self.env_steps = 0

    def start(self, tree: Tree) -> tuple[str, dict[str, Any]]:
        """Reset, replay the tree's prefix, and remember the root state."""
        obs, info = self.env.reset(seed=self.seed)
        for step in tree.prefix:
            obs, _, _, _, info = self.step(step["action"])
        self.remember(tree.root, info)
        return obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.env_steps += 1
        return self.env.step(action)

    def remember(self, node: Node, info: dict[str, Any]) -> None:
        self._infos[node.id] = info
        if self.snapshots:
            self._saved[node.id] = self.env.snapshot()  # type: ignore[attr-defined]

    def info(self, node: Node) -> dict[str, Any]:
        """The info the env gave when `node`'s state was reached."""
        return self._infos[node.id]

    def goto(self, tree: Tree, node: Node) -> dict[str, Any]:
        """Put the env in `node`'s state; returns that state's info."""
        if self.snapshots and node.id in self._saved:
            self.env.restore(self._saved[node.id])  # type: ignore[attr-defined]
            self.restores += 1
            return self._infos[node.id]
        self.replays += 1
        _, info = self.env.reset(seed=self.seed)
        for step in tree.prefix:
            *_, info = self.step(step["action"])
        for n in tree.path(node):
            *_, info = self.step(n.action)
        self._infos[node.id] = info
        return info


def closest_admissible(action: str, admissible: Sequence[str], cutoff: float) -> str | None:
    """The admissible action most similar to `action` (difflib ratio >= cutoff), or None."""
    if action in admissible:
        return action
    hits = difflib.get_close_matches(action, list(admissible), n=1, cutoff=cutoff)
    return hits[0] if hits else None


@dataclass(frozen=True)
class Candidate:
    """An action proposed for a child node."""

    action: str
    model_output: str
    origin: str
    info: dict[str, Any] = field(default_factory=dict)


def propose(
    llm: LLM,
    messages: Messages,
    info: dict[str, Any],
    entry: EnvEntry,
    config: MCTSConfig,
    *,
    seed: int,
    exclude: Sequence[str] = (),
) -> list[Candidate]:
    """Sample `config.expansions` replies and turn them into distinct candidate actions (see `MCTSConfig`)."""
    outs = llm.generate(
        messages,
        n=config.expansions,
        temperature=config.temperature,
        max_tokens=config.max_tokens or entry.max_tokens,
        stop=list(entry.stop),
        seed=seed,
    )
    admissible = [a for a in info.get("admissible_actions") or [] if a != "help"]
    restrict = config.admissible != "off" and bool(admissible)
    seen = set(exclude)
    out: list[Candidate] = []
    for completion in outs:
        reply = entry.complete_reply(completion.text)
        action = entry.parse_action(reply)
        extra = {"sampled": completion.text, "logprob_mean": completion.mean_logprob}
        if not action:
            continue
        if _is_thought(entry, action):
            if not config.allow_thoughts:
                continue
            cand = Candidate(action, reply, "model", extra)
        elif restrict:
            mapped = closest_admissible(action, admissible, config.map_cutoff)
            if mapped is None:
                continue
            same = mapped == action
            cand = Candidate(mapped, reply if same else mapped, "model" if same else "mapped", extra)
        else:
            cand = Candidate(action, reply, "model", extra)
        if cand.action not in seen:
            seen.add(cand.action)
            out.append(cand)
    if restrict and config.admissible == "map+fill" and len(out) < config.expansions:
        rng = random.Random(seed)
        rest = [a for a in admissible if a not in seen]
        rng.shuffle(rest)
        out += [Candidate(a, a, "fill") for a in rest[: config.expansions - len(out)]]
    return out


class MCTS:
    """Agent-R's search for one task (or from a spliced state: give the tree a `prefix`)."""

    def __init__(
        self,
        llm: LLM,
        entry: EnvEntry,
        config: MCTSConfig,
        *,
        expert: Expert | None = None,
    ) -> None:
        self.llm = llm
        self.entry = entry
        self.config = config
        self.expert = expert if expert is not None else entry.oracle
        if config.rollout == "expert" and self.expert is None:
            raise ValueError(f"rollout='expert' needs an expert; environment {entry.name!r} has none")

    def new_tree(self, tree_id: str, task: TaskSpec, env: Environment, seed: int | None) -> Tree:
        obs, _ = env.reset(seed=seed)
        return Tree(
            id=tree_id,
            task_id=task.task_id,
            env=self.entry.name,
            system_prompt=self.config.system_prompt or self.entry.system_prompt,
            initial_observation=obs,
            seed=seed,
            config=asdict(self.config),
            model=getattr(self.llm, "model_id", ""),
        )

    def search(self, tree: Tree, env: Environment) -> Tree:
        """Run `config.iterations` iterations on `tree` (in place) with `env`; returns the tree."""
        start = time.perf_counter()
        driver = EnvDriver(env, tree.seed, self.config.use_snapshots)
        driver.start(tree)
        for it in range(self.config.iterations):
            self._iterate(tree, driver, it)
        tree.stats = {
            "iterations": self.config.iterations,
            "nodes": len(tree.nodes),
            "success": tree.success,
            "env_steps": driver.env_steps,
            "replays": driver.replays,
            "restores": driver.restores,
            "seconds": round(time.perf_counter() - start, 3),
        }
        return tree

    def _iterate(self, tree: Tree, driver: EnvDriver, it: int) -> None:
        c = self.config.exploration
        node = tree.root
        while node.expanded and node.children and not tree.ended(node):
            node = select_child(tree, node, c)
        if (node.visits > 0 or node.parent is None) and not tree.ended(node):
            new = self._expand(tree, driver, node, it)
            if new:
                node = new[0]
        value, end = self._evaluate(tree, driver, node)
        for n in [tree.root, *tree.path(end)]:
            n.visits += 1
            n.value_sum += value

    def _expand(self, tree: Tree, driver: EnvDriver, node: Node, it: int) -> list[Node]:
        info = driver.goto(tree, node)
        existing = [tree.nodes[i].action for i in node.children]
        # from the task and its episode seed, not the tree's random id: the same config searches the same tree
        key = f"{tree.task_id}:{tree.seed}:{len(tree.prefix)}:{node.id}:{it}"
        seed = self.config.seed + zlib.crc32(key.encode()) % 1_000_003
        cands = propose(self.llm, tree.messages(node), info, self.entry, self.config, seed=seed, exclude=existing)
        node.expanded = True
        made = []
        for i, cand in enumerate(cands):
            if i:
                driver.goto(tree, node)
            child = self._step_child(tree, driver, node, cand)
            made.append(child)
        return made

    def _step_child(self, tree: Tree, driver: EnvDriver, parent: Node, cand: Candidate) -> Node:
        obs, reward, terminated, truncated, info = driver.step(cand.action)
        child = tree.add_child(
            parent,
            action=cand.action,
            model_output=cand.model_output,
            observation=obs,
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            origin=cand.origin,
            info=dict(cand.info),
        )
        driver.remember(child, info)
        return child

    def _evaluate(self, tree: Tree, driver: EnvDriver, node: Node) -> tuple[float, Node]:
        """The terminal reward reached from `node` (negative counts as 0) and the node where it was reached.

        Rollout steps join the tree (origin `rollout-<policy>`), reusing a child that already took the same action,
        so that a successful rollout is a path the revisions can use; they are backed up like any other node.
        """
        if tree.ended(node) or self.config.rollout == "none":
            return (max(0.0, node.reward) if node.terminated else 0.0), node
        info = driver.goto(tree, node)
        rng = random.Random(self.config.seed + node.id)
        while not tree.ended(node):
            action, output = self._rollout_action(tree, driver, node, info, rng)
            if action is None:
                break
            same = next((tree.nodes[c] for c in node.children if tree.nodes[c].action == action), None)
            if same is not None:
                node = same
                info = driver.goto(tree, node)
                continue
            node = self._step_child(tree, driver, node, Candidate(action, output, f"rollout-{self.config.rollout}"))
            info = driver.info(node)
        return (max(0.0, node.reward) if node.terminated else 0.0), node

    def _rollout_action(
        self, tree: Tree, driver: EnvDriver, node: Node, info: dict[str, Any], rng: random.Random
    ) -> tuple[str | None, str]:
        policy = self.config.rollout
        admissible = [a for a in info.get("admissible_actions") or [] if a != "help"]
        if policy == "expert":
            assert self.expert is not None
            action = self.expert(driver.env)
            return action, action or ""
        if policy == "random":
            if not admissible:
                return None, ""
            action = rng.choice(admissible)
            return action, action
        outs = self.llm.generate(
            tree.messages(node),
            n=1,
            temperature=0.0,
            max_tokens=self.config.max_tokens or self.entry.max_tokens,
            stop=list(self.entry.stop),
        )
        reply = self.entry.complete_reply(outs[0].text)
        action = self.entry.parse_action(reply)
        if _is_thought(self.entry, action):  # the policy reasons here: a thought is its move, not a reply to snap
            return action, reply
        if admissible and self.config.admissible != "off":
            mapped = closest_admissible(action, admissible, self.config.map_cutoff)
            if mapped is None:
                if self.config.admissible == "map+fill":
                    pick = rng.choice(admissible)
                    return pick, pick
                return action, reply
            return mapped, reply if mapped == action else mapped
        return action, reply
