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
    validation_split: str = "validation"  # every decision (gate, plateau) reads this split only
    test_split: str = "test"  # evaluated for the curve and the final table; never read by a decision
    ablate: list[str] = field(default_factory=lambda: ["none", "memory+tools"])
    seeds: int = 1  # independent training runs of each learning condition, each from scratch
    label: str = "reward"  # reward | judge
    judge: str | None = None  # model string of the judge; the run's model when unset
    budget_tokens: int | None = None
    budget_minutes: float | None = None
    curriculum: str = "bandit"  # bandit | sequential
    gate: bool = True
    tolerance: float = 0.0  # a validation drop larger than this fraction is rolled back
    patience: int | None = None  # stop a condition after this many evaluations without a new best
    train_limit: int | None = None
    eval_limit: int | None = None
    train_temperature: float = 0.7  # training episodes explore; held-out evaluations are greedy
    explore: str = "none"  # none | beam:K | tree:BUDGET — search in training episodes (evolve.explore)
    relabel: str = "none"  # none | siblings:K — hindsight relabelling of failed practice (evolve.relabel)


@dataclass
class ConditionState:
    """One training run of one condition (`name` is the condition, with `-r<k>` for runs after the first)."""

    name: str
    condition: str = ""
    run: int = 1
    episodes: int = 0
    samples: int = 0
    round: int = 0
    points: list[dict[str, Any]] = field(default_factory=list)
    accepted_marker: dict[str, Any] = field(default_factory=dict)
    accepted_outcomes: dict[str, float] = field(default_factory=dict)  # validation, of the kept state
    accepted_test: dict[str, float] = field(default_factory=dict)  # test (benchmark reward), kept state
    accepted_test_judged: dict[str, float] = field(default_factory=dict)  # test as the judge saw it
    best_rate: float = -1.0
    since_best: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    curriculum: dict[str, Any] = field(default_factory=dict)
    stopped: str = ""
    adapter: str | None = None  # lora conditions: the active adapter (its folder under the run's); None: base
    adapters: list[dict[str, Any]] = field(default_factory=list)  # lora: one entry per round (evolve.distil)
    distil: list[str] = field(default_factory=list)  # lora: this round's successful training episodes so far
    relabelled: dict[str, dict[str, int]] = field(default_factory=dict)  # round → relabelling figures
    # what practice has cost this training run so far (cumulative; a resumed run adds to it): model tokens
    # of its training episodes (with --explore's extra samples) and of the judge's calls on them (label-free
    # labels, tool replays, search verdicts); wall seconds of its training batches (episodes, learning,
    # --relabel replays) plus LoRA distillation, whose own share is distil_seconds
    practice_tokens: int = 0
    practice_seconds: float = 0.0
    distil_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.condition = self.condition or self.name

    def curve(self, split: str | None = None) -> list[CurvePoint]:
        points = [CurvePoint(**{**p, "ci95": tuple(p["ci95"])}) for p in self.points]
        return [p for p in points if split is None or p.split == split]


def unit_name(condition: str, run: int) -> str:
    return condition if run == 1 else f"{condition}-r{run}"


def units(ablate: list[str], seeds: int) -> dict[str, ConditionState]:
    """The training runs of an evolution: `seeds` per learning condition; one for `none`, which learns
    nothing, so its greedy evaluations would be the same in every run."""
    found = {}
    for condition in ablate:
        for run in range(1, (1 if condition == "none" else seeds) + 1):
            name = unit_name(condition, run)
            found[name] = ConditionState(name=name, condition=condition, run=run)
    return found


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
    judge: dict[str, Any] | None = None  # agreement of the judge with the benchmark's reward, per split

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
        options = data["options"]
        if "eval_split" in options:  # written before validation and test were separate
            options["test_split"] = options.pop("eval_split")
        data["options"] = EvolveOptions(**options)
        data["conditions"] = {k: ConditionState(**v) for k, v in data["conditions"].items()}
        return cls(**data)
