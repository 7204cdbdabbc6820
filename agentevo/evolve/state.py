"""What an evolution run has done so far, saved after every batch so a stopped run resumes where it was."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentevo.evolve.report import CurvePoint


@dataclass
class EvolveOptions:
    rounds: int = 3
    eval_every: int = 10
    train_split: str = "train"
    eval_split: str = "test"
    ablate: list[str] = field(default_factory=lambda: ["none", "memory+tools"])
    seeds: int = 1
    label: str = "reward"  # reward | judge
    judge: str | None = None  # model string of the judge; the run's model when unset
    budget_tokens: int | None = None
    budget_minutes: float | None = None
    curriculum: str = "bandit"  # bandit | sequential
    gate: bool = True
    tolerance: float = 0.0  # a held-out drop larger than this fraction is rolled back
    patience: int | None = None  # stop a condition after this many evaluations without a new best
    train_limit: int | None = None
    eval_limit: int | None = None
    train_temperature: float = 0.7  # training episodes explore; held-out evaluations are greedy


@dataclass
class ConditionState:
    name: str
    episodes: int = 0
    samples: int = 0
    round: int = 0
    points: list[dict[str, Any]] = field(default_factory=list)
    accepted_marker: dict[str, Any] = field(default_factory=dict)
    accepted_outcomes: dict[str, float] = field(default_factory=dict)
    best_rate: float = -1.0
    since_best: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    curriculum: dict[str, Any] = field(default_factory=dict)
    stopped: str = ""

    def curve(self) -> list[CurvePoint]:
        return [CurvePoint(**{**p, "ci95": tuple(p["ci95"])}) for p in self.points]


@dataclass
class EvolveState:
    evolve_id: str
    suite: str
    model: str
    options: EvolveOptions
    config: dict[str, Any]
    conditions: dict[str, ConditionState]
    status: str = "running"
    started_at: str = ""
    seconds: float = 0.0
    tokens: int = 0
    judge: dict[str, Any] | None = None

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1, default=str))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(folder / "state.json")

    @classmethod
    def load(cls, folder: Path) -> EvolveState:
        data = json.loads((folder / "state.json").read_text())
        data["options"] = EvolveOptions(**data["options"])
        data["conditions"] = {k: ConditionState(**v) for k, v in data["conditions"].items()}
        return cls(**data)
