"""What an evolution run amounts to, per condition: the test split's success of the kept state (pooled over
the condition's independent training runs, with a two-level bootstrap CI over tasks and runs), the paired
difference to `none` on the same tasks, the spread between runs, and the same figures on validation (what
the gate read) — every figure says its split. And the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentevo.evolve.conditions import ConditionLearner
from agentevo.evolve.report import CurvePoint, ReportData, write_report
from agentevo.evolve.state import ConditionState, EvolveState
from agentevo.runs.summary import wilson
from agentevo.stats import clustered_difference, clustered_mean

DIFF_CI = "two-level bootstrap over tasks and training runs"
PRACTICE_UNITS = {
    "practice_tokens": "model tokens (prompt + reply) of practice: training episodes, --explore's extra "
    "samples and the judge's calls on practice; cumulative over the training run when the point was taken",
    "practice_seconds": "wall-clock seconds of practice: training batches (episodes, learning, --relabel "
    "replays) plus LoRA distillation; cumulative; includes distil_seconds",
    "distil_seconds": "wall-clock seconds of LoRA distillation (lora conditions), part of practice_seconds",
    "ablations": "a condition's practice figures are summed over its training runs, over all their rounds",
}


def final_point(cond: ConditionState, split: str = "test") -> CurvePoint | None:
    kept = [p for p in cond.curve(split) if p.accepted]
    return kept[-1] if kept else None


def runs_of(state: EvolveState, condition: str) -> list[ConditionState]:
    return [c for c in state.conditions.values() if c.condition == condition]


def ablation_rows(state: EvolveState) -> list[dict[str, Any]]:
    rows = []
    for condition in dict.fromkeys(c.condition for c in state.conditions.values()):
        units = [u for u in runs_of(state, condition) if u.accepted_test and u.accepted_outcomes]
        if units:
            rows.append(condition_row(state, condition, units))
    return rows


def condition_row(state: EvolveState, condition: str, units: list[ConditionState]) -> dict[str, Any]:
    baseline = [u for u in runs_of(state, "none") if u.accepted_test]
    finals = [p for p in (final_point(u) for u in units) if p is not None]
    solved = sum(p.successes for p in finals)
    tokens = sum(p.tokens for p in finals)
    steps = [p.steps_per_solved * p.successes for p in finals if p.steps_per_solved is not None]
    row: dict[str, Any] = {
        "condition": condition,
        "runs": len(units),
        **split_figures([u.accepted_test for u in units], "test"),
        "episodes_trained": max(u.episodes for u in units),
        "evaluated_after": max(p.episodes for p in finals) if finals else 0,
        "steps_per_solved": sum(steps) / solved if solved else None,
        "tokens": tokens,
        "tokens_per_solved": tokens / solved if solved else None,
        "rejected_commits": sum(len(u.rejected) for u in units),
        "practice_tokens": sum(u.practice_tokens for u in units),  # summed over the training runs
        "practice_seconds": round(sum(u.practice_seconds for u in units), 1),
        "distil_seconds": round(sum(u.distil_seconds for u in units), 1),
        "stopped": "; ".join(u.stopped for u in units if u.stopped),
        "diff_vs_none": None,
        "diff_ci95": None,
        "diff_ci_method": None,
        "p_value": None,
        "p_method": None,
        "validation": split_figures([u.accepted_outcomes for u in units], "validation"),
    }
    if any(u.adapters for u in units):  # lora: the adapter of the kept state, per training run (None: base)
        row["adapter"] = [u.accepted_marker.get("adapter") for u in units]
    if any(u.accepted_test_judged for u in units):
        judged = [u.accepted_test_judged for u in units]
        row["test_judged_rate"] = sum(sum(j.values()) for j in judged) / sum(len(j) for j in judged)
    if baseline and condition != "none":
        diff = clustered_difference(baseline[0].accepted_test, [u.accepted_test for u in units])
        row.update(
            diff_vs_none=diff.diff,
            diff_ci95=list(diff.ci95),
            diff_ci_method=DIFF_CI,
            p_value=diff.p_value,
            p_method=diff.p_method,
        )
        val = clustered_difference(baseline[0].accepted_outcomes, [u.accepted_outcomes for u in units])
        row["validation"].update(diff_vs_none=val.diff, diff_ci95=list(val.ci95))
    return row


def split_figures(runs: list[dict[str, float]], split: str) -> dict[str, Any]:
    rate, ci, method = success_ci(runs)
    return {
        "split": split,
        "success_rate": rate,
        "ci95": list(ci),
        "ci_method": method,
        "n": len(runs[0]),
        "per_run": [sum(r.values()) / len(r) for r in runs],
    }


def success_ci(
    runs: dict[str, float] | list[dict[str, float]],
) -> tuple[float, tuple[float, float], str]:
    """The bootstrap CI over tasks (and training runs, when there are several); when every outcome is the
    same the bootstrap can only return that value (0/20 would read "0–0%"), so the Wilson interval of
    the pooled count stands in, and says so."""
    runs = [runs] if isinstance(runs, dict) else runs
    rate, ci = clustered_mean(runs)
    values = {v for r in runs for v in r.values()}
    if len(values) > 1 or not values <= {0.0, 1.0}:
        return rate, ci, "bootstrap" if len(runs) == 1 else "two-level bootstrap"
    n = sum(len(r) for r in runs)
    return rate, wilson(round(rate * n), n), "wilson"


def summary(state: EvolveState, report: tuple[Path, Path] | None = None) -> dict[str, Any]:
    return {
        "evolve_id": state.evolve_id,
        "status": state.status,
        "suite": state.suite,
        "model": state.model,
        "seconds": round(state.seconds, 1),
        "tokens": state.tokens,
        "splits": {
            "train": state.options.train_split,
            "decisions": state.options.validation_split,
            "reported": state.options.test_split,
        },
        "runs_per_condition": state.options.seeds,
        "ablations": ablation_rows(state),
        "points": [vars(p) for c in state.conditions.values() for p in c.curve()],  # with defaults
        "practice_units": PRACTICE_UNITS,
        "rejected": [r for c in state.conditions.values() for r in c.rejected],
        "adapters": adapter_rounds(state),
        "judge": state.judge,
        **({"relabelled": relabelled(state)} if state.options.relabel != "none" else {}),
        "report": {"png": str(report[0]), "html": str(report[1])} if report else None,
    }


def adapter_rounds(state: EvolveState) -> list[dict[str, Any]]:
    """lora conditions, per round: the adapter its training episodes used (`practised_with`), the one it
    trained (`trained`, None when nothing was), the one its evaluations used, and whether the gate kept it
    (rolled back: the next round runs on `practised_with` again). Adapter folders are relative to the
    condition's folder, `<run>/<condition>/`; None is the base model."""
    return [
        {"condition": c.condition, "run": c.run, **entry}
        for c in state.conditions.values()
        for entry in c.adapters
    ]


def relabelled(state: EvolveState) -> dict[str, Any]:
    """Hindsight relabelling per training run and round: failed trajectories tried, replays, the replays'
    environment steps (practice cost) and the verified successes kept; with the totals."""
    rounds = {name: c.relabelled for name, c in state.conditions.items() if c.relabelled}
    totals: dict[str, int] = {}
    for per_round in rounds.values():
        for counts in per_round.values():
            for key, n in counts.items():
                totals[key] = totals.get(key, 0) + n
    return {"spec": state.options.relabel, "rounds": rounds, "total": totals}


def practice_total(state: EvolveState) -> str:
    conds = state.conditions.values()
    tokens, seconds = sum(c.practice_tokens for c in conds), sum(c.practice_seconds for c in conds)
    return f"{tokens:,} tokens, {seconds / 60:.1f} min"


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
            "gate reads": opts.validation_split,
            "reported split": opts.test_split,
            "training runs per condition": opts.seeds,
            "curriculum": opts.curriculum,
            **({"practice search": opts.explore} if opts.explore != "none" else {}),
            **({"hindsight relabelling": opts.relabel} if opts.relabel != "none" else {}),
            "label": opts.label + (f" ({opts.judge or state.model})" if opts.label == "judge" else ""),
            "gate": f"on, tolerance {opts.tolerance:.0%}" if opts.gate else "off",
            "tokens": f"{state.tokens:,}",
            "practice (all training runs)": practice_total(state),
            "minutes": f"{state.seconds / 60:.1f}",
        },
        judge=state.judge,
    )
    return write_report(data, folder)
