"""What practice costs: every curve point carries the model tokens and wall seconds its training run had spent
practising when it was taken (cumulative, kept across --resume), so a gain can be weighed against them."""

from __future__ import annotations

import json
from pathlib import Path

from agentevo.config import RunConfig
from agentevo.evolve.loop import Evolution
from agentevo.evolve.report import CurvePoint, pooled
from agentevo.evolve.results import ablation_rows, render, summary
from agentevo.evolve.state import EvolveOptions, EvolveState, units
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel
from tests.evolve.keypad import Tally, sampler, suite, task

TASKS = [task("73", "train"), task("42", "validation"), task("58", "test")]
CANDIDATES = ["press 7", "press 3", "press 1"]  # samples differ in what they press, so in what they cost


def evolution(workspace: Path, *, rounds: int = 2, state: EvolveState | None = None, judge=None, **options):
    cfg = RunConfig.model_validate(
        {
            "environment": {"suite": "keypad"},
            "limits": {"max_steps": 4},
            "memory": {"options": {"embedder": "hash:64"}},
        }
    )
    label = "judge" if judge else "reward"
    opts = EvolveOptions(rounds=rounds, eval_every=3, ablate=["none", "memory"], label=label, **options)
    if state is None:
        state = EvolveState(
            evolve_id="evo-cost",
            suite="keypad",
            model="sampler",
            options=opts,
            config=cfg.model_dump(mode="json"),
            conditions=units(opts.ablate, 1),
        )
    else:
        state.options = opts
    store = TrajectoryStore.for_workspace(workspace)
    model = sampler(CANDIDATES)
    return Evolution(cfg, opts, workspace, store, model, suite(TASKS, Tally()), state, judge_model=judge)


def run_to_end(evo: Evolution) -> EvolveState:
    try:
        return evo.run()
    finally:
        evo.close()


def practice(workspace: Path) -> list:
    """The memory run's training trajectories in the order they were practised."""
    found = TrajectoryStore.for_workspace(workspace).trajectories(["evo-cost-memory-train"])
    return sorted(found, key=lambda t: int(t.id.rsplit("#", 1)[1]))


def cost(traj) -> int:
    return traj.tokens + traj.details.get("explored", {}).get("extra_tokens", 0)


def test_each_test_point_carries_the_practice_its_run_had_spent_and_none_spends_nothing(workspace):
    state = run_to_end(evolution(workspace))
    assert state.status == "done"
    points = state.conditions["memory"].curve("test")
    trained = practice(workspace)
    assert len(trained) == 6 and all(t.tokens > 0 for t in trained)
    # after round r: exactly the tokens of the first 3r training episodes the store holds
    assert [p.practice_tokens for p in points] == [0, sum(map(cost, trained[:3])), sum(map(cost, trained))]
    tokens = [p.practice_tokens for p in points]
    assert tokens[0] < tokens[1] < tokens[2]
    seconds = [p.practice_seconds for p in points]
    assert seconds[0] == 0 and 0 < seconds[1] <= seconds[2]
    assert all(p.distil_seconds == 0 for p in points)  # no lora condition here
    assert all(p.practice_tokens == 0 and p.practice_seconds == 0 for p in state.conditions["none"].curve())

    figures = summary(state)
    row = next(r for r in figures["ablations"] if r["condition"] == "memory")
    assert row["practice_tokens"] == tokens[-1] and row["practice_seconds"] > 0
    assert "model tokens" in figures["practice_units"]["practice_tokens"]
    assert [p["practice_tokens"] for p in figures["points"] if p["condition"] == "memory"] == [
        t for t in tokens for _ in ("validation", "test")
    ]
    _, page = render(state, workspace / "runs" / "evo-cost", {})
    html = page.read_text()
    assert "practice tokens" in html and f"{tokens[-1]:,}" in html


def test_a_resumed_run_adds_to_its_practice_figures_instead_of_starting_again(workspace):
    first = run_to_end(evolution(workspace, rounds=1))
    before = first.conditions["memory"]
    tokens_1, seconds_1 = before.practice_tokens, before.practice_seconds
    assert tokens_1 > 0 and seconds_1 > 0
    resumed = EvolveState.load(workspace / "runs" / "evo-cost")
    assert (resumed.conditions["memory"].practice_tokens, resumed.conditions["memory"].practice_seconds) == (
        tokens_1,
        seconds_1,
    )
    state = run_to_end(evolution(workspace, rounds=2, state=resumed))
    points = state.conditions["memory"].curve("test")
    assert points[1].practice_tokens == tokens_1  # round 1's point as it was
    assert points[2].practice_tokens == sum(map(cost, practice(workspace))) > tokens_1  # both rounds
    assert points[2].practice_seconds > seconds_1


def test_searched_practice_counts_the_extra_samples_the_search_drew(workspace):
    state = run_to_end(evolution(workspace, rounds=1, explore="beam:3"))
    trained = practice(workspace)
    extra = sum(t.details["explored"]["extra_tokens"] for t in trained)
    assert extra > 0
    final = state.conditions["memory"].curve("test")[-1]
    assert final.practice_tokens == sum(t.tokens for t in trained) + extra


def test_label_free_practice_counts_the_judges_tokens_on_training_episodes(workspace):
    verdict = "VERDICT: SUCCESS"
    judge = FunctionModel(lambda messages, tools: verdict)
    state = run_to_end(evolution(workspace, rounds=1, judge=judge))
    trained = practice(workspace)
    per_call = len(verdict) // 4  # what FunctionModel reports for a reply
    expected = sum(t.tokens for t in trained) + len(trained) * per_call
    assert state.conditions["memory"].curve("test")[-1].practice_tokens == expected
    # the judge's calls on none's evaluations are not practice
    assert state.conditions["none"].curve("test")[-1].practice_tokens == 0


def test_a_state_written_before_practice_figures_loads_with_zero_cost(workspace):
    run_to_end(evolution(workspace, rounds=1))
    path = workspace / "runs" / "evo-cost" / "state.json"
    data = json.loads(path.read_text())
    for cond in data["conditions"].values():
        for key in ("practice_tokens", "practice_seconds", "distil_seconds"):
            del cond[key]
            for point in cond["points"]:
                del point[key]
    path.write_text(json.dumps(data))
    old = EvolveState.load(path.parent)
    assert old.conditions["memory"].practice_tokens == 0
    assert all(p.practice_tokens == 0 for p in old.conditions["memory"].curve())
    assert all(row["practice_tokens"] == 0 for row in ablation_rows(old))


def test_a_pooled_point_sums_the_practice_of_its_training_runs():
    runs = [
        CurvePoint("memory", 10, 3, 10, (0.1, 0.6), run=k, round=1, practice_tokens=t, practice_seconds=s)
        for k, t, s in ((1, 100, 2.0), (2, 50, 1.5))
    ]
    (point,) = pooled(runs)
    assert (point.practice_tokens, point.practice_seconds) == (150, 3.5)
