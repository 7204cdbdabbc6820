"""Paired comparisons of two arms run on the same (task, seed) keys: the mean difference with a bootstrap CI.

Two arms of an experiment (base vs adapter, memory off vs on, before vs after an evolution step) are scored
on the same keys, so their outcomes are paired: the paired difference is far tighter than comparing two
independent success rates. Outcomes are 0/1 (success) or any float (reward).

    result = paired_difference({("t1", 0): 0, ("t2", 0): 1}, {("t1", 0): 1, ("t2", 0): 1})
    result.diff, result.ci95, result.p_value     # b - a, bootstrap 95% CI, exact McNemar (0/1 only)

`cluster` resamples whole groups (e.g. every seed of a task together) when keys within a group are correlated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from agentevo.runs.summary import wilson

__all__ = ["PairedDifference", "bootstrap_mean", "mcnemar_exact", "paired_difference", "wilson"]


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
