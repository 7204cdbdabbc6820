"""The `os` suite: templates, splits, fresh instances, and every task's reference solution replayed."""

from __future__ import annotations

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.benchmarks import get_suite
from agentevo.benchmarks import os as os_suite
from agentevo.benchmarks.os import make_instances, needs_answer, reference_answer, reference_replies
from agentevo.config import LimitsConfig, RunConfig
from agentevo.envs.os import OSEnvironment
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.errors import SuiteError
from agentevo.records import Task
from agentevo.testing import ScriptedModel
from tests.envs.conftest import needs_bwrap, needs_docker

TASKS = get_suite("os").tasks("all")


def replay(task: Task, backend: str) -> tuple[float, float]:
    """Reward of the reference solution, and of a wrong answer (or of finishing without doing anything)."""
    answer = None
    if needs_answer(task):
        scratch = open_sandbox(backend, Limits())
        try:
            answer = reference_answer(task, scratch)
        finally:
            scratch.close()
    right = episode(task, reference_replies(task, answer), backend)
    wrong = "Think: done.\n\nAct: finish"
    if answer is not None:
        wrong = f"Think: I know it.\n\nAct: answer({int(answer) + 1 if answer.isdigit() else answer + 'x'})"
    return right, episode(task, [wrong], backend)


def episode(task: Task, replies: list[str], backend: str) -> float:
    env = OSEnvironment(lambda: open_sandbox(backend, Limits()))
    model = ScriptedModel(replies)
    try:
        ep = Episode(env=env, model=model, limits=LimitsConfig(max_steps=len(replies)), prompt_set="os")
        trajectory = run_episode(task, ep, episode_id=f"{task.id}-{len(replies)}")
    finally:
        env.close()
    model.assert_complete()
    return trajectory.reward


def test_the_suite_has_templated_tasks_in_every_category_and_all_three_splits():
    assert len(TASKS) >= 40 and len({t.id for t in TASKS}) == len(TASKS)
    templates = {t.template_id for t in TASKS}
    assert len(templates) >= 12
    assert {t.meta["category"] for t in TASKS} == set(os_suite.CATEGORIES)
    for template in templates:
        splits = [t.split for t in TASKS if t.template_id == template]
        assert sorted(splits) == ["test", "train", "validation"], template
    assert all(t.meta["evaluation"].get("example") for t in TASKS), "every task needs a reference solution"


def test_fresh_instances_are_seeded_and_differ_from_the_suites():
    first, again = make_instances("count-lines", 3, seed=5), make_instances("count-lines", 3, seed=5)
    assert [t.model_dump() for t in first] == [t.model_dump() for t in again]
    fixed = {str(t.meta["params"]) for t in TASKS if t.template_id == "count-lines"}
    assert {str(t.meta["params"]) for t in first}.isdisjoint(fixed)
    assert {t.id for t in first} == {"count-lines-s5-0", "count-lines-s5-1", "count-lines-s5-2"}
    other = make_instances("count-lines", 3, seed=6)
    assert [t.meta["params"] for t in other] != [t.meta["params"] for t in first]
    with pytest.raises(SuiteError, match="no os template"):
        make_instances("no-such-template", 1)


def test_fresh_instances_never_repeat_a_validation_or_test_instance(tmp_path, monkeypatch):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "pick.yaml").write_text(
        "category: text\n"
        "task: {description: 'Say {{n}}', evaluation: {match: '{{n}}', example: 'echo {{n}}'}}\n"
        "params: {n: {choice: [1, 2, 3]}}\n"
        "instances: [{n: 1}, {n: 2}, {n: 3}]\n"
    )
    monkeypatch.setenv("AGENTEVO_OS_TASKS", str(tmp_path))
    os_suite.templates.cache_clear()
    try:
        suite = {t.split: t.meta["params"]["n"] for t in os_suite.load()}
        fresh = make_instances("pick", 12, seed=1)
    finally:
        monkeypatch.delenv("AGENTEVO_OS_TASKS")
        os_suite.templates.cache_clear()
    assert sorted(suite) == ["test", "train", "validation"]
    assert fresh and {t.meta["params"]["n"] for t in fresh} == {suite["train"]}
    assert {t.split for t in fresh} == {"train"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task: [unclosed", "line 1 malformed YAML"),
        (
            "category: text\ntask: {description: x, evaluation: {match: '{{nope}}'}}\ninstances: [{}]\n",
            "nope",
        ),
        ("category: cooking\ntask: {description: x, evaluation: {match: y}}\n", "category"),
        (
            "category: text\ntask: {description: x, evaluation: {check: [{file: ../../etc/passwd}]}}\n",
            "script",
        ),
        ("category: text\ntask: {description: x, evaluation: {}}\ninstances: [{}]\n", "match` or `check"),
    ],
)
def test_broken_templates_are_one_clear_error(tmp_path, monkeypatch, text, message):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "bad.yaml").write_text(text)
    monkeypatch.setenv("AGENTEVO_OS_TASKS", str(tmp_path))
    os_suite.templates.cache_clear()
    try:
        with pytest.raises(SuiteError, match=message):
            os_suite.load()
    finally:
        monkeypatch.delenv("AGENTEVO_OS_TASKS")
        os_suite.templates.cache_clear()


def test_the_suite_refuses_to_run_without_isolation():
    with pytest.raises(SuiteError, match="isolating sandbox"):
        get_suite("os").check(RunConfig.model_validate({"sandbox": {"backend": "local"}}))


ONE_PER_CATEGORY = [next(t for t in TASKS if t.meta["category"] == c) for c in os_suite.CATEGORIES]


@needs_bwrap
@pytest.mark.parametrize("task", ONE_PER_CATEGORY, ids=lambda t: t.id)
def test_reference_solutions_score_one_and_wrong_answers_zero_in_bwrap(task):
    assert replay(task, "bwrap") == (1.0, 0.0)


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_every_task_replays_in_bwrap(task):
    assert replay(task, "bwrap") == (1.0, 0.0)


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("template", sorted({t.template_id for t in TASKS}))
def test_fresh_instances_are_solvable_too(template):
    (task,) = make_instances(template, 1, seed=7)
    assert replay(task, "bwrap") == (1.0, 0.0)


@pytest.mark.slow
@needs_docker
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
@pytest.mark.usefixtures("docker_image")
def test_every_task_replays_in_docker(task):
    assert replay(task, "docker") == (1.0, 0.0)
