"""Paired comparisons of two arms run on the same (task, seed) keys: the mean difference with a bootstrap CI.

Two arms of an experiment (base vs adapter, memory off vs on, before vs after an evolution step) are scored
on the same keys, so their outcomes are paired: the paired difference is far tighter than comparing two
independent success rates. Outcomes are 0/1 (success) or any float (reward).

    result = paired_difference({("t1", 0): 0, ("t2", 0): 1}, {("t1", 0): 1, ("t2", 0): 1})
    result.diff, result.ci95, result.p_value     # b - a, bootstrap 95% CI, exact McNemar (0/1 only)

`cluster` resamples whole groups (e.g. every seed of a task together) when keys within a group are correlated.

Several independent training runs of one condition against one baseline (tasks × runs):

    result = clustered_difference({"t1": 0, "t2": 1}, [{"t1": 1, "t2": 1}, {"t1": 0, "t2": 1}])
    result.diff, result.ci95, result.per_run    # two-level bootstrap: tasks, and training runs
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentevo.runs.summary import wilson

__all__ = [
    "ClusteredDifference",
    "PairedDifference",
    "bootstrap_mean",
    "clustered_difference",
    "clustered_mean",
    "mcnemar_exact",
    "paired_difference",
    "sign_flip_p",
    "wilson",
]


@dataclass(frozen=True)
class PairedDifference:
    n: int  # keys scored in both arms
    mean_a: float
    mean_b: float
    diff: float  # mean_b - mean_a
    ci95: tuple[float, float]  # bootstrap percentile interval of diff
    a_only: int  # keys where a beat b
    b_only: int  # keys where b beat a
    ties: int
    p_value: float | None  # exact McNemar test when outcomes are 0/1, else None
    unpaired: int  # keys present in only one arm (left out)
    resamples: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci95"] = list(self.ci95)
        return data


def paired_difference(
    a: Mapping[Hashable, float],
    b: Mapping[Hashable, float],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: Callable[[Any], Hashable] | None = None,
) -> PairedDifference:
    """Mean of b - a over the keys both arms scored; a percentile bootstrap CI over keys (or clusters)."""
    import numpy as np

    keys = sorted((k for k in a if k in b), key=repr)
    if not keys:
        raise ValueError("the two arms share no keys: nothing to pair")
    xa = np.array([float(a[k]) for k in keys])
    xb = np.array([float(b[k]) for k in keys])
    lo, hi = bootstrap_ci(xb - xa, groups(keys, cluster), resamples, confidence, seed)
    binary = set(xa.tolist()) | set(xb.tolist()) <= {0.0, 1.0}
    a_only, b_only = int((xa > xb).sum()), int((xb > xa).sum())
    return PairedDifference(
        n=len(keys),
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        diff=float((xb - xa).mean()),
        ci95=(lo, hi),
        a_only=a_only,
        b_only=b_only,
        ties=len(keys) - a_only - b_only,
        p_value=mcnemar_exact(a_only, b_only) if binary else None,
        unpaired=len(set(a) ^ set(b)),
        resamples=resamples,
    )


def bootstrap_mean(
    outcomes: Mapping[Hashable, float],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: Callable[[Any], Hashable] | None = None,
) -> tuple[float, tuple[float, float]]:
    """One arm's mean outcome (a success rate for 0/1) with a percentile bootstrap CI over keys."""
    import numpy as np

    keys = sorted(outcomes, key=repr)
    if not keys:
        raise ValueError("no outcomes: nothing to average")
    values = np.array([float(outcomes[k]) for k in keys])
    return float(values.mean()), bootstrap_ci(values, groups(keys, cluster), resamples, confidence, seed)


def groups(keys: list[Hashable], cluster: Callable[[Any], Hashable] | None) -> list[list[int]]:
    """Indices of keys per resampling unit: each key alone, or every key of one cluster together."""
    if cluster is None:
        return [[i] for i in range(len(keys))]
    by: dict[Hashable, list[int]] = {}
    for i, k in enumerate(keys):
        by.setdefault(cluster(k), []).append(i)
    return list(by.values())


def bootstrap_ci(
    diffs: Any, units: list[list[int]], resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    import numpy as np

    rng = np.random.default_rng(seed)
    sums = np.array([diffs[u].sum() for u in units])
    sizes = np.array([len(u) for u in units])
    picks = rng.integers(0, len(units), size=(resamples, len(units)))
    # Ratio estimator: with clusters of unequal size, each resample averages over the keys it drew.
    means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against 1/2."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


# --- several independent training runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClusteredDifference:
    tasks: int  # tasks scored by the baseline and by every run
    runs: int  # independent training runs of the condition
    mean_baseline: float
    mean: float  # over tasks and runs
    diff: float  # mean - mean_baseline
    ci95: tuple[float, float]  # two-level bootstrap: tasks, then training runs, both with replacement
    per_run: tuple[float, ...]  # each run's mean over the tasks
    p_value: float | None
    p_method: str  # "mcnemar" (one run, 0/1 outcomes) or "sign-flip" (task-level differences)
    resamples: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci95"], data["per_run"] = list(self.ci95), list(self.per_run)
        return data


def outcome_matrix(runs: Sequence[Mapping[Hashable, float]], keys: Sequence[Hashable]) -> Any:
    import numpy as np

    return np.array([[float(run[k]) for k in keys] for run in runs])


def shared_keys(*arms: Mapping[Hashable, float]) -> list[Hashable]:
    keys = sorted(set.intersection(*(set(a) for a in arms)), key=repr)
    if not keys:
        raise ValueError("the arms share no keys: nothing to pair")
    return keys


def two_level_ci(matrix: Any, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile CI of the mean of a runs × tasks matrix, resampling tasks and runs (each with
    replacement): the spread between training runs widens the interval, as it should."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_runs, n_tasks = matrix.shape
    by_run = matrix[rng.integers(0, n_runs, size=(resamples, n_runs))]  # resamples × runs × tasks
    tasks = rng.integers(0, n_tasks, size=(resamples, 1, n_tasks))
    means = np.take_along_axis(by_run, np.broadcast_to(tasks, by_run.shape), axis=2).mean(axis=(1, 2))
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def clustered_mean(
    runs: Sequence[Mapping[Hashable, float]],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """One condition's mean outcome over tasks and training runs, with the two-level bootstrap CI."""
    matrix = outcome_matrix(runs, shared_keys(*runs))
    return float(matrix.mean()), two_level_ci(matrix, resamples, confidence, seed)


def clustered_difference(
    baseline: Mapping[Hashable, float],
    runs: Sequence[Mapping[Hashable, float]],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ClusteredDifference:
    """Mean over tasks and runs of (run outcome - baseline outcome) on the tasks all of them scored."""
    import numpy as np

    if not runs:
        raise ValueError("no training runs to compare")
    keys = shared_keys(baseline, *runs)
    base = np.array([float(baseline[k]) for k in keys])
    matrix = outcome_matrix(runs, keys)
    diffs = matrix - base
    binary = set(base.tolist()) | set(matrix.ravel().tolist()) <= {0.0, 1.0}
    if len(runs) == 1 and binary:
        p_value: float | None = mcnemar_exact(int((diffs[0] < 0).sum()), int((diffs[0] > 0).sum()))
        method = "mcnemar"
    else:
        p_value, method = sign_flip_p(diffs.mean(axis=0), resamples, seed), "sign-flip"
    return ClusteredDifference(
        tasks=len(keys),
        runs=len(runs),
        mean_baseline=float(base.mean()),
        mean=float(matrix.mean()),
        diff=float(diffs.mean()),
        ci95=two_level_ci(diffs, resamples, confidence, seed),
        per_run=tuple(float(row.mean()) for row in matrix),
        p_value=p_value,
        p_method=method,
        resamples=resamples,
    )


def sign_flip_p(task_diffs: Any, resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided randomisation test of a mean paired difference: under "no effect" each task's difference
    is as likely to have the other sign."""
    import numpy as np

    observed = abs(float(task_diffs.mean()))
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(resamples, len(task_diffs)))
    extreme = (np.abs((signs * task_diffs).mean(axis=1)) >= observed - 1e-12).sum()
    return float((extreme + 1) / (resamples + 1))
