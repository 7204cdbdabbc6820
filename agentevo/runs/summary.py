"""What a run amounts to: success rate with a 95% confidence interval, steps, tokens, time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agentevo.runs.store import EpisodeRow

Z95 = 1.959964


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (sensible at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class RunSummary:
    run_id: str
    suite: str
    model: str
    status: str
    episodes: int
    successes: int
    success_rate: float
    ci95: tuple[float, float]
    mean_steps: float
    mean_reward: float
    tokens: int
    cost: float
    seconds: float
    outcomes: dict[str, int] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci95"] = list(self.ci95)
        return data


def summarise(
    run_id: str, suite: str, model: str, status: str, rows: Sequence[EpisodeRow], wall_seconds: float
) -> RunSummary:
    done = [r for r in rows if r.status == "done"]
    n = len(done)
    wins = sum(r.outcome == "success" for r in done)
    return RunSummary(
        run_id=run_id,
        suite=suite,
        model=model,
        status=status,
        episodes=n,
        successes=wins,
        success_rate=wins / n if n else 0.0,
        ci95=wilson(wins, n),
        mean_steps=sum(r.steps for r in done) / n if n else 0.0,
        mean_reward=sum(r.reward for r in done) / n if n else 0.0,
        tokens=sum(r.tokens for r in done),
        cost=sum(r.cost for r in done),
        seconds=wall_seconds,
        outcomes=dict(Counter(r.outcome for r in done)),
        tasks=[
            {
                "task_id": r.task_id,
                "sample": r.sample,
                "outcome": r.outcome,
                "reward": r.reward,
                "steps": r.steps,
                "tokens": r.tokens,
                "seconds": round(r.seconds, 3),
                "episode_id": r.id,
            }
            for r in done
        ],
    )
