"""The evolution loop on real OS tasks in bwrap, with a scripted model that succeeds only when it is shown a
workflow or offered a tool for the task's own template — so a rising curve can only come from learning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentevo.agent.prompts import demonstrations
from agentevo.benchmarks import Suite, get_suite
from agentevo.benchmarks.os import reference_answer, reference_replies
from agentevo.config import RunConfig
from agentevo.envs.sandbox import open_sandbox
from agentevo.envs.sandbox.bwrap import available
from agentevo.evolve.loop import Evolution
from agentevo.evolve.results import ablation_rows
from agentevo.evolve.state import EvolveOptions, EvolveState, units
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not available(), reason="needs bubblewrap")]

TEMPLATES = ("count-lines", "make-private", "replace-word", "sum-column")  # instructions tell instances apart
TASK_HEADER = "Now, I will start a new problem"
WRONG = "Think: I cannot tell.\n\nAct: finish"


@pytest.fixture(scope="module")
def tasks():
    chosen = [t for t in get_suite("os").tasks("all") if t.template_id in TEMPLATES]
    answers = {}
    for task in chosen:
        sandbox = open_sandbox("bwrap")
        try:
            answers[task.id] = reference_answer(task, sandbox)
        finally:
            sandbox.close()
    return chosen, answers


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def template_of(text: str, tasks) -> str:
    """The template whose instruction shares most words with a text (a demonstration or a tool)."""
    return max(tasks, key=lambda t: len(words(t.instruction) & words(text))).template_id


def helped(messages, task, tasks) -> bool:
    """Did the prompt carry a workflow demonstration or a tool learned on this task's template?"""
    start = 1 + 2 * len(demonstrations("os"))
    task_at = max(
        i for i, m in enumerate(messages) if m["role"] == "user" and m["content"].startswith(TASK_HEADER)
    )
    recalled = [m["content"] for m in messages[start:task_at] if m["role"] == "user"]
    offered = re.findall(r"^- (\w+): (.*)$", messages[task_at]["content"], re.M)
    return any(template_of(u, tasks) == task.template_id for u in recalled) or any(
        template_of(f"{name.replace('_', ' ')} {desc}", tasks) == task.template_id for name, desc in offered
    )


def easy_ones(tasks) -> set[str]:
    """One training instance per template that the model solves unaided: where learning starts from."""
    firsts = {}
    for t in sorted(tasks, key=lambda t: t.id):
        if t.split == "train":
            firsts.setdefault(t.template_id, t.id)
    return set(firsts.values())


def oracle_when_helped(tasks, answers, *, invert: bool = False, test_always=None) -> FunctionModel:
    """Knows every reference solution but uses it only on an easy task or when helped (inverted: only when
    not helped); `test_always` fixes its behaviour on test-split tasks (True: solves, False: fails)."""
    easy = easy_ones(tasks)

    def reply(messages, tools):
        task_at = max(
            i for i, m in enumerate(messages) if m["role"] == "user" and m["content"].startswith(TASK_HEADER)
        )
        task = next(t for t in tasks if t.instruction in messages[task_at]["content"])
        able = helped(messages, task, tasks) != invert or (task.id in easy and not invert)
        if task.split == "test" and test_always is not None:
            able = test_always
        if not able:
            return WRONG
        steps = sum(m["role"] == "assistant" for m in messages[task_at:])
        replies = reference_replies(task, answers[task.id])
        return replies[min(steps, len(replies) - 1)]

    return FunctionModel(reply)  # identifies its task by the instruction, so instructions must differ


def evolution(
    workspace: Path, tasks, model, *, ablate, rounds=2, eval_every=6, gate=True, seeds=1, judge=None
) -> Evolution:
    chosen, _ = tasks
    base = get_suite("os")
    suite = Suite(
        name="os",
        kind="os",
        description="three templates",
        load=lambda: list(chosen),
        make_env=base.make_env,
        check=base.check,
        prompt_set="os",
    )
    cfg = RunConfig.model_validate(
        {
            "environment": {"suite": "os"},
            "sandbox": {"backend": "bwrap"},
            "limits": {"max_steps": 3},
            "memory": {"options": {"embedder": "hash"}},
            "archive": {"options": {"embedder": "hash"}},
        }
    )
    options = EvolveOptions(
        rounds=rounds,
        eval_every=eval_every,
        ablate=ablate,
        gate=gate,
        seeds=seeds,
        label="judge" if judge else "reward",
    )
    state = EvolveState(
        evolve_id="evo-test",
        suite="os",
        model=model.name,
        options=options,
        config=cfg.model_dump(mode="json"),
        conditions=units(ablate, seeds),
    )
    return Evolution(
        config=cfg,
        options=options,
        workspace=workspace,
        store=TrajectoryStore.for_workspace(workspace),
        model=model,
        suite=suite,
        state=state,
        judge_model=judge,
    )


def rates(state, condition: str, split: str = "test") -> list[float]:
    return [p["successes"] / p["n"] for p in state.conditions[condition].points if p["split"] == split]


def decisions(state) -> dict[str, list]:
    """What the gate decided, per training run: kept or rolled back each round, and what it rolled back."""
    return {
        name: [
            [p["accepted"] for p in c.points],
            [(r["round"], re.sub(r"\b[0-9a-f]{8}\b", "<commit>", r["what"])) for r in c.rejected],
        ]
        for name, c in state.conditions.items()
    }


def run_to_end(evo: Evolution):
    try:
        state = evo.run()
        learned = {n: [e.title for e in lrn.memory.items()] for n, lrn in evo.learners.items() if lrn.memory}
    finally:
        evo.close()
    return state, learned


def test_the_curve_rises_with_memory_and_tools_and_stays_flat_without(workspace, tasks):
    chosen, answers = tasks
    evo = evolution(
        workspace,
        tasks,
        oracle_when_helped(chosen, answers),
        ablate=["none", "memory", "tools", "memory+tools"],
    )
    try:
        state = evo.run()
    finally:
        evo.close()
    assert state.status == "done"
    assert rates(state, "none") == [0.0, 0.0, 0.0]
    for learning in ("memory", "tools", "memory+tools"):
        curve = rates(state, learning)
        assert curve[0] == 0.0 and curve[-1] > 0.5, (learning, curve)
        assert rates(state, learning, "validation")[-1] > 0.5
    rows = {r["condition"]: r for r in ablation_rows(state)}
    assert rows["memory+tools"]["diff_vs_none"] > 0.5 and rows["memory+tools"]["diff_ci95"][0] > 0
    assert not any(c.rejected for c in state.conditions.values())


def test_the_gate_rolls_back_a_change_that_makes_held_out_results_worse(workspace, tasks):
    chosen, answers = tasks
    # succeeds on its own, and fails whenever it is shown experience: learning can only hurt here
    evo = evolution(
        workspace,
        tasks,
        oracle_when_helped(chosen, answers, invert=True),
        ablate=["none", "memory"],
        rounds=1,
    )
    try:
        state = evo.run()
        memory = evo.learners["memory"].memory
        cond = state.conditions["memory"]
        assert rates(state, "none") == [1.0, 1.0]
        assert rates(state, "memory", "validation")[-1] < 1.0 and not cond.points[-1]["accepted"]
        assert cond.rejected and cond.rejected[0]["before"] == 1.0
        assert cond.rejected[0]["split"] == "validation"
        assert memory.items() == []  # back to the state of the last kept evaluation: empty
        assert ablation_rows(state)[1]["success_rate"] == 1.0  # the final figure is the kept state's
    finally:
        evo.close()


def test_test_outcomes_cannot_change_which_changes_the_gate_keeps(tmp_path, tasks):
    """Two runs whose models differ only on test-split tasks: one fails every test task, one solves every
    test task whatever it is shown. A gate that read test would keep the second run's harmful changes (its
    test results never fall); reading validation, both runs keep and roll back exactly the same."""
    chosen, answers = tasks
    runs = []
    for name, always in (("fails", False), ("solves", True)):
        model = oracle_when_helped(chosen, answers, invert=True, test_always=always)
        evo = evolution(tmp_path / name, tasks, model, ablate=["none", "memory"], rounds=1)
        runs.append(run_to_end(evo))
    (failing, failing_memory), (solving, solving_memory) = runs
    assert rates(failing, "memory") == [0.0, 0.0] and rates(solving, "memory") == [1.0, 1.0]
    assert decisions(failing) == decisions(solving)
    assert failing.conditions["memory"].rejected  # the gate did decide something: a rollback
    assert failing_memory == solving_memory
    assert failing.conditions["memory"].accepted_outcomes == solving.conditions["memory"].accepted_outcomes


def test_independent_training_runs_learn_from_scratch_and_report_their_spread(workspace, tasks):
    chosen, answers = tasks
    evo = evolution(
        workspace, tasks, oracle_when_helped(chosen, answers), ablate=["none", "memory"], rounds=1, seeds=2
    )
    state, learned = run_to_end(evo)
    assert sorted(state.conditions) == ["memory", "memory-r2", "none"]
    assert learned["memory"] and learned["memory-r2"]
    store = TrajectoryStore.for_workspace(workspace)
    seeds = {
        name: {store.trajectory(r.id).task.meta["seed"] for r in store.episodes(f"evo-test-{name}-train")}
        for name in ("memory", "memory-r2")
    }
    assert seeds["memory"] and seeds["memory"].isdisjoint(seeds["memory-r2"])
    row = next(r for r in ablation_rows(state) if r["condition"] == "memory")
    assert row["runs"] == 2 and len(row["per_run"]) == 2 and row["split"] == "test"
    assert row["diff_ci_method"] == "two-level bootstrap over tasks and training runs"
    assert row["validation"]["split"] == "validation" and row["p_method"] == "sign-flip"


def test_label_free_runs_gate_on_the_judges_validation_verdicts_and_report_the_reward(workspace, tasks):
    """The model is hurt by what it learns, but the judge calls every episode a success: a label-free gate
    sees no fall and keeps the changes, while the test figure is still the benchmark's reward."""
    chosen, answers = tasks
    judge = FunctionModel(lambda messages, tools: "VERDICT: SUCCESS")
    evo = evolution(
        workspace,
        tasks,
        oracle_when_helped(chosen, answers, invert=True),
        ablate=["none", "memory"],
        rounds=1,
        judge=judge,
    )
    state, _ = run_to_end(evo)
    cond = state.conditions["memory"]
    assert not cond.rejected and all(p["accepted"] for p in cond.points)
    assert rates(state, "memory")[-1] < 1.0  # the reward saw the harm the judge missed
    assert set(cond.accepted_outcomes.values()) == {1.0}
    assert set(state.judge) == {"train", "validation", "test"} and state.judge["test"]["false_positive"] > 0
    row = next(r for r in ablation_rows(state) if r["condition"] == "memory")
    assert row["test_judged_rate"] == 1.0 and row["success_rate"] < 1.0
