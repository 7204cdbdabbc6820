"""Paired differences of two arms keyed by (task, seed): bootstrap CIs, McNemar, clusters."""

import random

import pytest

from agentevo.stats import clustered_difference, clustered_mean, mcnemar_exact, paired_difference


def keyed(values, seed=0):
    return {(f"t{i}", seed): v for i, v in enumerate(values)}


def test_identical_arms_differ_by_exactly_zero():
    a = keyed([1, 0, 1, 1, 0])
    d = paired_difference(a, dict(a))
    assert (d.diff, d.ci95, d.a_only, d.b_only, d.ties, d.p_value) == (0.0, (0.0, 0.0), 0, 0, 5, 1.0)


def test_b_winning_every_pair_gives_a_difference_of_one_and_a_small_p_value():
    d = paired_difference(keyed([0] * 10), keyed([1] * 10))
    assert d.diff == 1.0 and d.ci95 == (1.0, 1.0)
    assert d.p_value == pytest.approx(2 * 0.5**10)
    assert (d.mean_a, d.mean_b, d.b_only) == (0.0, 1.0, 10)


def test_the_interval_covers_the_difference_and_narrows_with_more_pairs():
    rng = random.Random(1)
    widths = []
    for n in (20, 400):
        a = keyed([int(rng.random() < 0.4) for _ in range(n)])
        b = {k: v if rng.random() < 0.8 else 1 - v for k, v in a.items()}
        d = paired_difference(a, b)
        assert d.ci95[0] <= d.diff <= d.ci95[1]
        widths.append(d.ci95[1] - d.ci95[0])
    assert widths[1] < widths[0] / 2


def test_pairing_is_by_key_not_by_order_and_unpaired_keys_are_counted():
    a = {("x", 0): 1, ("y", 0): 0, ("z", 0): 1}
    b = {("y", 0): 1, ("x", 0): 1, ("w", 0): 0}
    d = paired_difference(a, b)
    assert (d.n, d.b_only, d.a_only, d.unpaired) == (2, 1, 0, 2)
    assert d.diff == 0.5


def test_rewards_that_are_not_zero_or_one_get_no_mcnemar_p_value():
    d = paired_difference(keyed([0.2, 0.5]), keyed([0.4, 0.5]))
    assert d.p_value is None and d.diff == pytest.approx(0.1)


def test_clusters_resample_whole_tasks_and_widen_the_interval_when_seeds_agree():
    a, b = {}, {}
    rng = random.Random(3)
    for t in range(15):
        flip = rng.random() < 0.5  # every seed of a task behaves the same: 5 seeds are not 5 samples
        for s in range(5):
            a[(f"t{t}", s)] = 0
            b[(f"t{t}", s)] = int(flip)
    plain = paired_difference(a, b)
    clustered = paired_difference(a, b, cluster=lambda key: key[0])
    assert plain.diff == clustered.diff
    assert clustered.ci95[1] - clustered.ci95[0] > 1.5 * (plain.ci95[1] - plain.ci95[0])


def test_results_are_reproducible_for_a_seed():
    a, b = keyed([1, 0, 0, 1, 0, 1]), keyed([1, 1, 0, 1, 1, 0])
    assert paired_difference(a, b, seed=7) == paired_difference(a, b, seed=7)


def test_arms_without_a_shared_key_cannot_be_paired():
    with pytest.raises(ValueError, match="share no keys"):
        paired_difference({("a", 0): 1}, {("b", 0): 1})


def test_mcnemar_matches_the_binomial_tail():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 5) == pytest.approx(2 * (1 + 6) / 64)
    assert mcnemar_exact(5, 1) == mcnemar_exact(1, 5)


def tasks(values):
    return {f"t{i}": float(v) for i, v in enumerate(values)}


def test_one_training_run_gets_mcnemar_and_several_a_sign_flip_test():
    base = tasks([0] * 20)
    one = clustered_difference(base, [tasks([1] * 8 + [0] * 12)])
    assert one.p_method == "mcnemar" and one.p_value == pytest.approx(mcnemar_exact(0, 8))
    three = clustered_difference(base, [tasks([1] * 8 + [0] * 12)] * 3)
    assert three.p_method == "sign-flip" and three.p_value < 0.05
    assert three.diff == pytest.approx(0.4) and three.per_run == (0.4, 0.4, 0.4)


def test_spread_between_training_runs_widens_the_interval():
    base = tasks([0] * 30)
    alike = clustered_difference(base, [tasks([1] * 9 + [0] * 21)] * 4)
    spread = clustered_difference(base, [tasks([1] * 18 + [0] * 12), tasks([0] * 30)] * 2)
    assert alike.diff == pytest.approx(spread.diff) == pytest.approx(0.3)
    width = lambda d: d.ci95[1] - d.ci95[0]  # noqa: E731
    assert width(spread) > width(alike)
    assert spread.ci95[0] <= 0.3 <= spread.ci95[1]


def test_the_clustered_mean_of_one_run_is_its_success_rate():
    rate, (lo, hi) = clustered_mean([tasks([1, 0, 1, 0])])
    assert rate == 0.5 and lo < 0.5 < hi
