"""Reflection + self-consistency voting at inference, without ground truth (Re-ReST's inference variant, code).

Candidates for a task: the agent's first answer, its answers after `rounds` reflections that see no test
result (only the task and its own previous answer), and optionally extra sampled answers. Each candidate
runs in the sandbox on the example calls of the task's docstring (`>>> f(...)`), never on the hidden tests;
its behaviour is, per example, the repr of the return value (dicts and sets in a canonical order), the
exception's type, or `timeout`. Candidates that behave alike form a cluster and the answer is the earliest
candidate of the largest cluster (ties: the cluster whose first member comes first, so the first answer wins
when nothing agrees). Only the chosen answer is graded with the real tests.
"""

from __future__ import annotations

import ast
import doctest
import json
import logging
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from agents.metrics import wilson_interval
from agents.types import LLM, Messages
from environments.base import TaskSpec, get_entry
from environments.code.env import CodeEnvConfig, task_prompt
from environments.code.extract import extract_code
from environments.code.grading import build_program
from reflection.reflector import blind_reflection_prompt, clean_reflection, with_lessons
from sandboxes.types import ExecResult, Limits, Sandbox

log = logging.getLogger(__name__)

Behaviour = tuple[str, ...]
"""What a candidate did on each example call: `= <repr>`, `! <ExceptionType>` or `timeout`."""

TIMEOUT = "timeout"


@dataclass(frozen=True)
class ConsistencyConfig:
    """How candidates are gathered and voted on."""

    rounds: int = 2
    """Reflection rounds without feedback after the first answer; each adds a candidate."""
    samples: int = 4
    """Extra answers sampled from the plain task prompt (with the first answer: the plain-majority baseline)."""
    temperature: float = 0.8
    """Sampling temperature of the extra answers (reflections and reflected answers are greedy)."""
    reflect_samples: bool = False
    """Also reflect on each sampled answer (each then adds `rounds` candidates)."""
    max_tokens: int | None = None
    """Tokens per answer (None: the code environment's default)."""
    reflection_tokens: int = 96
    """Tokens per reflection."""
    call_timeout: float = 1.0
    """Seconds one example call may run before its outcome is `timeout`."""
    seed: int = 0
    """Seed for sampling."""

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.samples < 0:
            raise ValueError(f"rounds and samples must be >= 0 (got {self.rounds} and {self.samples})")
        if self.call_timeout <= 0:
            raise ValueError(f"call_timeout must be positive (got {self.call_timeout})")


@dataclass(frozen=True)
class Candidate:
    """One answer to a task."""

    origin: str
    """`first`, `reflection R`, `sample K` or `sample K reflection R`."""
    reply: str
    code: str | None
    """The function extracted from the reply (None: the reply defined none; it then has no vote)."""
    reflections: tuple[str, ...] = ()
    """The reflections in the prompt that produced it."""
    sample: int = 0
    """0 for the first answer's chain, K for sample K's."""

    @property
    def reflected(self) -> bool:
        return bool(self.reflections)


@dataclass(frozen=True)
class Vote:
    """The clusters of equal behaviour, largest first, and the chosen candidate."""

    chosen: int
    """Index of the chosen candidate (the first of the largest cluster; 0 when no candidate had code)."""
    clusters: tuple[tuple[int, ...], ...]
    """Candidate indices per behaviour, largest cluster first, ties by earliest member."""

    @property
    def support(self) -> int:
        """Candidates that agree with the chosen one (itself included)."""
        return len(self.clusters[0]) if self.clusters else 0


@dataclass(frozen=True)
class TaskOutcome:
    """What voting chose for one task and whether the real tests accept it (and the baselines' answers)."""

    task_id: str
    examples: int
    """Example calls found in the task's docstring."""
    candidates: tuple[Candidate, ...]
    behaviours: tuple[Behaviour | None, ...]
    vote: Vote
    passed: bool
    """The voted answer passes the task's tests."""
    first_passed: bool
    """The first (greedy) answer passes."""
    majority_passed: bool | None
    """The vote among the first answer and the samples only (no reflection) passes; None without samples."""
    reflection_passed: bool | None
    """The first chain's last reflected answer, without a vote, passes; None without rounds."""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["chosen"] = self.candidates[self.vote.chosen].origin
        data["support"] = self.vote.support
        return data


def example_calls(prompt: str, entry_point: str) -> list[str]:
    """The `>>>` examples of `entry_point`'s docstring in `prompt`, as source (without the expected output).

    The docstring is read through `ast`, so escapes mean what they mean to doctest; a prompt that does not
    parse is searched as plain text.
    """
    text = prompt
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry_point:
                text = ast.get_docstring(node) or ""
                break
    try:
        examples = doctest.DocTestParser().get_examples(text)
    except ValueError:
        return []
    return [e.source.rstrip("\n") for e in examples]


_HARNESS = r"""
import json, os, re, signal, sys

_P = json.loads(__PAYLOAD__)
_OUT = os.dup(1)
_NULL = os.open(os.devnull, os.O_WRONLY)
os.dup2(_NULL, 1)
sys.stdout = open(os.devnull, "w")


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _canon(value):
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(_canon(k) + ": " + _canon(v) for k, v in value.items())) + "}"
    if isinstance(value, (set, frozenset)):
        return "set{" + ", ".join(sorted(_canon(v) for v in value)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_canon(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_canon(v) for v in value) + ",)"
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
    return text if len(text) <= 2000 else text[:2000] + "...(%d chars)" % len(text)


def _guarded(thunk):
    signal.setitimer(signal.ITIMER_REAL, _P["timeout"])
    try:
        value = thunk()
        signal.setitimer(signal.ITIMER_REAL, 0)
        return "= " + _canon(value)
    except _Timeout:
        return "timeout"
    except BaseException as exc:
        return "! " + type(exc).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _emit(index, outcome):
    os.write(_OUT, (_P["mark"] + json.dumps([index, outcome]) + "\n").encode())


def _run(source, ns):
    try:
        code = compile(source, "<example>", "eval")
    except SyntaxError:
        exec(compile(source, "<example>", "exec"), ns)
        return None
    return eval(code, ns)


signal.signal(signal.SIGALRM, _alarm)
_NS = {"__name__": "__candidate__"}
_DEFINED = _guarded(lambda: exec(compile(_P["source"], "candidate.py", "exec"), _NS))
for _i, _call in enumerate(_P["calls"]):
    _emit(_i, _DEFINED if _DEFINED != "= None" else _guarded(lambda: _run(_call, _NS)))
"""


def harness(prompt: str, code: str, calls: Sequence[str], call_timeout: float, mark: str) -> str:
    """The program that defines `code` (after `prompt`, for its imports) and prints one marked line per call.

    The candidate's own output goes to /dev/null; each call runs under a `call_timeout` alarm.
    """
    payload = {"source": f"{prompt}\n{code}", "calls": list(calls), "timeout": call_timeout, "mark": mark}
    return _HARNESS.replace("__PAYLOAD__", repr(json.dumps(payload)))


def parse_behaviour(result: ExecResult, calls: int, mark: str) -> Behaviour:
    """The outcome per call from the harness's marked lines; calls it never reported get how the run ended."""
    outcomes: dict[int, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith(mark):
            try:
                index, outcome = json.loads(line[len(mark) :])
            except (ValueError, TypeError):
                continue
            outcomes[int(index)] = str(outcome)
    if result.timed_out:
        missing = TIMEOUT
    elif result.oom_killed:
        missing = "! MemoryError"
    else:
        missing = f"! exit {result.exit_code}"
    return tuple(outcomes.get(i, missing) for i in range(calls))


def behaviour(sandbox: Sandbox, prompt: str, code: str, calls: Sequence[str], call_timeout: float = 1.0) -> Behaviour:
    """Run `code` on the example `calls` in `sandbox` and return what each call did."""
    if not calls:
        return ()
    mark = f"@@{secrets.token_hex(8)}@@"
    budget = call_timeout * (len(calls) + 1) + 2.0
    limits = Limits(timeout=budget, cpu_seconds=math.ceil(budget) + 1, memory_mb=512)
    result = sandbox.run(harness(prompt, code, calls, call_timeout, mark), stdin="", limits=limits)
    return parse_behaviour(result, len(calls), mark)


def vote(behaviours: Sequence[Behaviour | None]) -> Vote:
    """Cluster candidates by behaviour (None: no code, no vote) and choose the first of the largest cluster."""
    groups: dict[Behaviour, list[int]] = {}
    for index, b in enumerate(behaviours):
        if b is not None:
            groups.setdefault(b, []).append(index)
    clusters = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    return Vote(chosen=clusters[0][0] if clusters else 0, clusters=tuple(tuple(g) for g in clusters))


def passes_tests(sandbox: Sandbox, task: TaskSpec, code: str | None, limits: Limits | None = None) -> bool:
    """Grade one answer with the task's real tests (as the code environment does)."""
    if code is None:
        return False
    d = task.data
    program = build_program(d["prompt"], code, d["test"], d["entry_point"])
    return sandbox.run(program, limits=limits or CodeEnvConfig().limits).ok


def _require_code(task: TaskSpec) -> None:
    if not all(k in task.data for k in ("prompt", "entry_point", "test")):
        raise ValueError(
            f"task {task.task_id} is not a code task: self-consistency voting runs candidate functions on the "
            "task's example calls, so it needs code tasks (prompt, entry_point, test); for other environments "
            "use the Reflexion evaluation"
        )


@dataclass(frozen=True)
class _Chain:
    task_id: str
    sample: int
    reply: str
    reflections: tuple[str, ...] = ()


def gather_candidates(
    llm: LLM, tasks: Sequence[TaskSpec], config: ConsistencyConfig, first: Mapping[str, str] | None = None
) -> dict[str, list[Candidate]]:
    """Each task's candidates: first answer, its blind reflections' answers, then samples (and theirs).

    `first` gives first answers already made (e.g. a greedy evaluation's replies); the others are made
    greedily here. No candidate is run or graded.
    """
    for task in tasks:
        _require_code(task)
    entry = get_entry("code")
    observation = {t.task_id: task_prompt(t) for t in tasks}
    entry_point = {t.task_id: t.data["entry_point"] for t in tasks}

    def ask(observations: Sequence[str], *, n: int = 1, temperature: float = 0.0, seed: int) -> list[list[str]]:
        if not observations:
            return []
        prompts: list[Messages] = [
            [{"role": "system", "content": entry.system_prompt}, *entry.few_shot, {"role": "user", "content": o}]
            for o in observations
        ]
        outs = llm.generate_batch(
            prompts,
            n=n,
            temperature=temperature,
            max_tokens=config.max_tokens or entry.max_tokens,
            stop=list(entry.stop),
            seed=seed,
        )
        return [[entry.complete_reply(c.text) for c in o] for o in outs]

    def candidate(chain: _Chain, origin: str) -> Candidate:
        code = extract_code(chain.reply, entry_point[chain.task_id])
        return Candidate(origin, chain.reply, code, chain.reflections, chain.sample)

    firsts = dict(first or {})
    missing = [t.task_id for t in tasks if t.task_id not in firsts]
    for tid, replies in zip(missing, ask([observation[t] for t in missing], seed=config.seed), strict=True):
        firsts[tid] = replies[0]
    found: dict[str, list[Candidate]] = {t.task_id: [] for t in tasks}
    chains = [_Chain(t.task_id, 0, firsts[t.task_id]) for t in tasks]
    for c in chains:
        found[c.task_id].append(candidate(c, "first"))
    if config.samples:
        sampled = ask(
            [observation[t.task_id] for t in tasks], n=config.samples, temperature=config.temperature,
            seed=config.seed + 1,
        )  # fmt: skip
        for task, replies in zip(tasks, sampled, strict=True):
            for k, reply in enumerate(replies, 1):
                c = _Chain(task.task_id, k, reply)
                found[task.task_id].append(candidate(c, f"sample {k}"))
                if config.reflect_samples:
                    chains.append(c)
    for r in range(1, config.rounds + 1 if chains else 1):
        prompts = [blind_reflection_prompt(observation[c.task_id], c.reply, c.reflections) for c in chains]
        outs = llm.generate_batch(
            prompts, temperature=0.0, max_tokens=config.reflection_tokens, stop=["\n\n", "```"],
            seed=config.seed + 100 + r,
        )  # fmt: skip
        fallback = "checked the task's examples against my answer."
        chains = [
            replace(c, reflections=(*c.reflections, clean_reflection(o[0].text, fallback)))
            for c, o in zip(chains, outs, strict=True)
        ]
        replies = ask([with_lessons(observation[c.task_id], c.reflections) for c in chains], seed=config.seed + r)
        chains = [replace(c, reply=rep[0]) for c, rep in zip(chains, replies, strict=True)]
        for c in chains:
            prefix = f"sample {c.sample} " if c.sample else ""
            found[c.task_id].append(candidate(c, f"{prefix}reflection {r}"))
    for task_id, cands in found.items():
        # first chain (first answer, its reflections), then samples, then the samples' reflections
        found[task_id] = sorted(cands, key=lambda c: (c.sample > 0 and c.reflected, c.sample, len(c.reflections)))
    return found


def choose(
    sandbox: Sandbox, task: TaskSpec, candidates: Sequence[Candidate], call_timeout: float = 1.0
) -> tuple[tuple[Behaviour | None, ...], Vote]:
    """Run every candidate on the task's example calls (never its tests) and vote on their behaviour."""
    _require_code(task)
    calls = example_calls(task.data["prompt"], task.data["entry_point"])
    seen: dict[str, Behaviour] = {}
    behaviours: list[Behaviour | None] = []
    for c in candidates:
        if c.code is None:
            behaviours.append(None)
            continue
        if c.code not in seen:
            seen[c.code] = behaviour(sandbox, task.data["prompt"], c.code, calls, call_timeout)
        behaviours.append(seen[c.code])
    return tuple(behaviours), vote(behaviours)


def _grader(sandbox: Sandbox, task: TaskSpec, candidates: Sequence[Candidate]) -> Callable[[int], bool]:
    """Grades candidates by index with the real tests, running each distinct code once."""
    graded: dict[str | None, bool] = {}

    def grade(index: int) -> bool:
        code = candidates[index].code
        if code not in graded:
            graded[code] = passes_tests(sandbox, task, code)
        return graded[code]

    return grade


def evaluate_consistency(
    llm: LLM,
    tasks: Sequence[TaskSpec],
    sandbox: Sandbox,
    config: ConsistencyConfig | None = None,
    *,
    first: Mapping[str, str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[TaskOutcome]:
    """Gather candidates, vote per task without ground truth, then grade the voted answer (and the baselines')."""
    config = config or ConsistencyConfig()
    found = gather_candidates(llm, tasks, config, first)
    outcomes = []
    for done, task in enumerate(tasks, 1):
        cands = found[task.task_id]
        behaviours, chosen = choose(sandbox, task, cands, config.call_timeout)
        grade = _grader(sandbox, task, cands)
        plain = [i for i, c in enumerate(cands) if not c.reflected]
        chain = [i for i, c in enumerate(cands) if c.sample == 0]
        majority = vote([behaviours[i] for i in plain]) if config.samples else None
        outcomes.append(
            TaskOutcome(
                task_id=task.task_id,
                examples=len(example_calls(task.data["prompt"], task.data["entry_point"])),
                candidates=tuple(cands),
                behaviours=behaviours,
                vote=chosen,
                passed=grade(chosen.chosen),
                first_passed=grade(0),
                majority_passed=grade(plain[majority.chosen]) if majority else None,
                reflection_passed=grade(chain[-1]) if config.rounds else None,
            )
        )
        if on_progress:
            on_progress(done, len(tasks))
    return outcomes


def summarize_consistency(outcomes: Sequence[TaskOutcome]) -> dict:
    """Pass rates (with 95% Wilson intervals) of the voted answer and of the baselines on the same tasks."""
    n = len(outcomes)

    def rate(values: list[bool | None]) -> tuple[float | None, list[float]]:
        known = [v for v in values if v is not None]
        if not known:
            return None, []
        return sum(known) / len(known), list(wilson_interval(sum(known), len(known)))

    summary: dict = {"tasks": n}
    for key, attr in (
        ("consistency", "passed"),
        ("first", "first_passed"),
        ("majority", "majority_passed"),
        ("last_reflection", "reflection_passed"),
    ):
        value, ci = rate([getattr(o, attr) for o in outcomes])
        summary[f"success_{key}"] = value
        summary[f"success_{key}_ci95"] = ci
    summary["mean_candidates"] = sum(len(o.candidates) for o in outcomes) / n if n else 0.0
    summary["mean_support"] = sum(o.vote.support for o in outcomes) / n if n else 0.0
    summary["tasks_without_examples"] = sum(o.examples == 0 for o in outcomes)
    return summary


__all__ = [
    "Behaviour",
    "Candidate",
    "ConsistencyConfig",
    "TaskOutcome",
    "Vote",
    "behaviour",
    "choose",
    "evaluate_consistency",
    "example_calls",
    "gather_candidates",
    "harness",
    "parse_behaviour",
    "passes_tests",
    "summarize_consistency",
    "vote",
]
