"""The per-condition success interval of an evolution run."""

from agentevo.evolve.results import success_ci


def test_mixed_outcomes_get_the_bootstrap_interval():
    outcomes = {f"t{i}|0": float(i % 4 == 0) for i in range(20)}
    rate, (lo, hi), method = success_ci(outcomes)
    assert method == "bootstrap" and rate == 0.25 and lo < 0.25 < hi


def test_all_failures_get_the_wilson_interval_not_a_zero_width_one():
    rate, (lo, hi), method = success_ci({f"t{i}|0": 0.0 for i in range(20)})
    assert method == "wilson" and rate == 0.0 and lo == 0.0 and 0.1 < hi < 0.2
