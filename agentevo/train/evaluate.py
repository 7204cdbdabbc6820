"""`agentevo train eval`: the same held-out tasks with and without an adapter, paired by (task, seed).

Both arms are ordinary runs of the spine's Runner (stored in the workspace as kind `eval`), with the same
tasks, seeds, limits and sandbox; only the model string differs. Tasks whose template the adapter was trained
on (its `training.json` lists them, from the export's data card) are left out, so nothing seen in training
is scored. The report gives each arm's success rate with a Wilson 95% CI and the paired difference with a
bootstrap 95% CI (agentevo.stats).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.errors import ConfigError, SuiteError
from agentevo.protocols import Model
from agentevo.records import Task
from agentevo.stats import PairedDifference, paired_difference, wilson


@dataclass(frozen=True)
class EvalRequest:
    adapter: Path
    suite: str
    split: str = "test"
    limit: int | None = None
    seed: int = 0
    samples: int = 1
    max_steps: int | None = None
    concurrency: int = 1
    sandbox: str | None = None
    config: Path | None = None
    base: str = "local/smollm2"

    @property
    def adapter_model(self) -> str:
        return f"{self.base}+adapter:{self.adapter}"


@dataclass
class Arm:
    name: str
    model: str
    run_id: str
    outcomes: dict[tuple[str, int], float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.outcomes)

    @property
    def successes(self) -> int:
        return int(sum(self.outcomes.values()))

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson(self.successes, self.n)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "run_id": self.run_id,
            "episodes": self.n,
            "successes": self.successes,
            "success_rate": self.rate,
            "ci95": list(self.ci95),
        }


@dataclass
class EvalReport:
    adapter: str
    suite: str
    split: str
    task_ids: list[str]
    excluded_seen: int
    arms: list[Arm]
    difference: PairedDifference

    def to_json(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter,
            "suite": self.suite,
            "split": self.split,
            "tasks": self.task_ids,
            "excluded_seen_in_training": self.excluded_seen,
            "arms": [a.to_json() for a in self.arms],
            "paired_difference": {"of": "adapter - base", **self.difference.to_json()},
        }


def trained_groups(adapter: Path) -> list[str]:
    path = adapter / "training.json"
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text())["data"]["train_groups"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is unreadable: retrain or remove it") from None


def held_out(tasks: list[Task], seen: list[str], limit: int | None) -> tuple[list[Task], int]:
    seen_set = set(seen)
    kept = [t for t in tasks if (t.template_id or t.id) not in seen_set and t.id not in seen_set]
    return (kept[:limit] if limit else kept), len(tasks) - len(kept)


def evaluate_adapter(
    request: EvalRequest,
    workspace: Path,
    db: str | None = None,
    *,
    progress: bool = True,
    models: tuple[Model, Model] | None = None,
) -> EvalReport:
    """Run both arms; `models` (base, adapter) replaces the real ones in tests."""
    from agentevo.benchmarks import get_suite
    from agentevo.config import run_config
    from agentevo.models.local import parse_spec
    from agentevo.runs.build import ensure_writable
    from agentevo.runs.store import TrajectoryStore

    parse_spec(request.adapter_model)  # a missing or foreign folder fails here, before any run is stored
    ensure_writable(workspace)
    cfg = run_config(
        request.config,
        suite=request.suite,
        split=request.split,
        max_steps=request.max_steps,
        concurrency=request.concurrency,
        seed=request.seed,
        samples=request.samples,
        sandbox=request.sandbox,
    )
    suite = get_suite(request.suite)
    tasks, excluded = held_out(suite.tasks(request.split), trained_groups(request.adapter), request.limit)
    if not tasks:
        raise SuiteError(
            f"no held-out task of {request.suite}/{request.split} is left ({excluded} seen in training)"
        )
    store = TrajectoryStore.for_workspace(workspace, db)
    arms = []
    for i, (name, model_name) in enumerate((("base", request.base), ("adapter", request.adapter_model))):
        model = models[i] if models else None
        arms.append(run_arm(name, model_name, model, cfg, suite, tasks, workspace, store, progress))
    return EvalReport(
        adapter=str(request.adapter),
        suite=request.suite,
        split=request.split,
        task_ids=[t.id for t in tasks],
        excluded_seen=excluded,
        arms=arms,
        difference=paired_difference(
            arms[0].outcomes, arms[1].outcomes, cluster=(lambda key: key[0]) if request.samples > 1 else None
        ),
    )


def run_arm(
    name: str,
    model_name: str,
    model: Model | None,
    cfg: Any,
    suite: Any,
    tasks: list[Task],
    workspace: Path,
    store: Any,
    progress: bool,
) -> Arm:
    from agentevo.models import load_model
    from agentevo.runs.build import build_runner

    arm_cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": model_name})})
    model = model or load_model(arm_cfg.model, cache_path=workspace / "runs" / "responses.db")
    runner = build_runner(arm_cfg, suite, workspace, model=model, store=store, show_progress=progress)
    manifest = runner.start(tasks, command=shlex.join(["agentevo", *sys.argv[1:]]), kind="eval")
    summary = runner.execute(manifest, tasks)
    if summary.status == "interrupted":
        raise KeyboardInterrupt
    outcomes = {
        (t["task_id"], manifest.seeds[t["sample"]]): float(t["outcome"] == "success") for t in summary.tasks
    }
    return Arm(name=name, model=model_name, run_id=manifest.run_id, outcomes=outcomes)
