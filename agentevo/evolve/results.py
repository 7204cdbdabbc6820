"""What an evolution run amounts to: per condition, the final held-out success with a bootstrap CI, the
paired difference to `none` on the same tasks and seeds, steps and tokens per solved task; and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentevo.evolve.learners import ConditionLearner
from agentevo.evolve.report import CurvePoint, ReportData, write_report
from agentevo.evolve.state import ConditionState, EvolveState
from agentevo.runs.summary import wilson
from agentevo.stats import bootstrap_mean, paired_difference


def final_point(cond: ConditionState) -> CurvePoint | None:
    kept = [p for p in cond.curve() if p.accepted]
    return kept[-1] if kept else None


def ablation_rows(state: EvolveState) -> list[dict[str, Any]]:
    baseline = state.conditions.get("none")
    rows = []
    for name, cond in state.conditions.items():
        point = final_point(cond)
        outcomes = cond.accepted_outcomes
        if point is None or not outcomes:
            continue
        rate, ci, method = success_ci(outcomes)
        row: dict[str, Any] = {
            "condition": name,
            "success_rate": rate,
            "ci95": list(ci),
            "ci_method": method,
            "episodes_trained": cond.episodes,
            "evaluated_after": point.episodes,
            "n": len(outcomes),
            "steps_per_solved": point.steps_per_solved,
            "tokens": point.tokens,
            "tokens_per_solved": point.tokens / point.successes if point.successes else None,
            "rejected_commits": len(cond.rejected),
            "stopped": cond.stopped,
            "diff_vs_none": None,
            "diff_ci95": None,
            "p_value": None,
        }
        if baseline is not None and name != "none" and baseline.accepted_outcomes:
            diff = paired_difference(baseline.accepted_outcomes, outcomes)
            row.update(diff_vs_none=diff.diff, diff_ci95=list(diff.ci95), p_value=diff.p_value)
        rows.append(row)
    return rows


def success_ci(outcomes: dict[str, float]) -> tuple[float, tuple[float, float], str]:
    """The bootstrap CI over tasks × seeds; when every outcome is the same the bootstrap can only return
    that value (0/20 would read "0–0%"), so the Wilson interval of the count stands in, and says so."""
    rate, ci = bootstrap_mean(outcomes)
    if len(set(outcomes.values())) > 1 or not set(outcomes.values()) <= {0.0, 1.0}:
        return rate, ci, "bootstrap"
    return rate, wilson(round(rate * len(outcomes)), len(outcomes)), "wilson"


def summary(state: EvolveState, report: tuple[Path, Path] | None = None) -> dict[str, Any]:
    return {
        "evolve_id": state.evolve_id,
        "status": state.status,
        "suite": state.suite,
        "model": state.model,
        "seconds": round(state.seconds, 1),
        "tokens": state.tokens,
        "ablations": ablation_rows(state),
        "points": [p for c in state.conditions.values() for p in c.points],
        "rejected": [r for c in state.conditions.values() for r in c.rejected],
        "judge": state.judge,
        "report": {"png": str(report[0]), "html": str(report[1])} if report else None,
    }


def render(state: EvolveState, folder: Path, learners: dict[str, ConditionLearner]) -> tuple[Path, Path]:
    opts = state.options
    data = ReportData(
        title=f"{state.suite}: {state.model}, {', '.join(opts.ablate)}",
        points=[p for c in state.conditions.values() for p in c.curve()],
        ablations=ablation_rows(state),
        learned={name: learner.learned() for name, learner in learners.items() if learner.learns},
        rejected=[r for c in state.conditions.values() for r in c.rejected],
        manifest={
            "evolve id": state.evolve_id,
            "status": state.status,
            "train split": opts.train_split,
            "eval split": opts.eval_split,
            "seeds": opts.seeds,
            "curriculum": opts.curriculum,
            "label": opts.label + (f" ({state.judge['model']})" if state.judge else ""),
            "gate": f"on, tolerance {opts.tolerance:.0%}" if opts.gate else "off",
            "tokens": f"{state.tokens:,}",
            "minutes": f"{state.seconds / 60:.1f}",
        },
        judge=state.judge,
    )
    return write_report(data, folder)
