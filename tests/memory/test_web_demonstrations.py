"""Web workflows as demonstration turns, in real Chromium on MiniWoB++ pages: a success on one instance is
shown to the agent as turns on a new instance of its page — elements named by role and accessible name,
the instance's own values, page text only as quoted data — and a model that can only copy those turns
solves the new instance with them and fails without them."""

from __future__ import annotations

import re

import pytest

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.memory.store import ExperienceStore
from agentevo.records import Trajectory
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel, last_user_text
from tests.helpers import run_with_learners
from tests.tools.helpers import BACKEND
from tests.tools.test_miniwob_tools import element, objective

PAGES = ("click-button", "enter-text")
BUILT_IN_TURNS = 3  # the web prompt set's own demonstration
SENTENCE = re.compile(r"^I (click|type into) the (\S+) '(.*)'\.$", re.M)
ACTION = re.compile(r"```(.*)```")
PAGE_LINE = re.compile(r"^(OBSERVATION:|URL: |OBJECTIVE: |PREVIOUS ACTION: |\s*\[\d+\] \S+|text ['\"])")


def knows(messages, tools):
    """An agent that knows these two pages: reads the value and the ids off the page."""
    page = last_user_text(messages)
    goal = objective(page)
    value = re.findall(r'"([^"]*)"', goal)[0]
    if goal.startswith("Click on the"):
        return f"```click [{element(page, 'button', value)}]```"
    if sum(m["role"] == "assistant" for m in messages) == BUILT_IN_TURNS:
        return f"```type [{element(page, 'textbox', '')}] [{value}] [0]```"
    return f"```click [{element(page, 'button', 'Submit')}]```"


def copies(messages, tools):
    """An agent that can only copy recalled turns: step n does what turn n says, finding the element it
    names by role and accessible name on the live page (the demonstration's ids are another page's)."""
    demos = [m["content"] for m in messages if m["role"] == "assistant" and SENTENCE.search(m["content"])]
    own = sum(m["role"] == "assistant" for m in messages) - BUILT_IN_TURNS - len(demos)
    if own >= len(demos):
        return "Nothing to copy.\n```stop [N/A]```"
    verb, role, name = SENTENCE.search(demos[own]).groups()
    target = element(last_user_text(messages), role, name)
    if verb == "click":
        return f"I copy.\n```click [{target}]```"
    typed = re.match(r"type \[\d+\] \[(.*)\] \[0\]", ACTION.search(demos[own]).group(1)).group(1)
    return f"I copy.\n```type [{target}] [{typed}] [0]```"


def config(memory: bool) -> RunConfig:
    return RunConfig.model_validate(
        {
            "sandbox": {"backend": BACKEND},
            "limits": {"max_steps": 4},
            "environment": {"suite": "miniwob-lite", "options": {"screenshots": False}},
            "memory": {"enabled": memory, "options": {"embedder": "hash:64"}},
            "run": {"seed": 3},
        }
    )


def tasks(split: str):
    return [t for t in get_suite("miniwob-lite").tasks("all") if t.id in {f"{p}/{split}" for p in PAGES}]


def trajectories(ws, summary) -> list[Trajectory]:
    store = TrajectoryStore.for_workspace(ws)
    return [store.trajectory(row.id) for row in store.episodes(summary.run_id)]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    ws = tmp_path_factory.mktemp("web-demos")
    summary, _ = run_with_learners(
        config(True), ws, FunctionModel(knows), get_suite("miniwob-lite"), tasks("train")
    )
    assert summary.successes == len(PAGES)
    return ws


def test_a_web_success_becomes_an_untrusted_workflow_whose_turns_quote_the_page(learned):
    store = ExperienceStore.for_workspace(learned, embedder="hash:64", mode="read")
    workflows = [e for e in store.items() if e.kind == "workflow"]
    store.close()
    assert {w.scope.template for w in workflows} == set(PAGES)
    for item in workflows:
        assert item.trust == "untrusted"
        users = [m["content"] for m in item.demonstration if m["role"] == "user"]
        assistants = [m["content"] for m in item.demonstration if m["role"] == "assistant"]
        assert users and all(PAGE_LINE.match(line) for turn in users for line in turn.splitlines())
        assert all(SENTENCE.match(a.splitlines()[0]) and ACTION.search(a) for a in assistants)
        assert not any("StaticText" in u and "'" not in u for u in users)


def test_the_next_instance_is_shown_the_workflow_as_turns_and_a_copying_model_solves_it(learned):
    store = ExperienceStore.for_workspace(learned, embedder="hash:64", mode="read")
    learned_values = {
        w.scope.template: re.findall(r'"([^"]*)"', objective(w.demonstration[0]["content"]))[0]
        for w in store.items()
        if w.kind == "workflow"
    }
    store.close()
    held_out = tasks("test")
    summary, _ = run_with_learners(
        config(True), learned, FunctionModel(copies), get_suite("miniwob-lite"), held_out
    )
    assert summary.successes == len(PAGES)
    for traj in trajectories(learned, summary):
        assert traj.details["prompt"]["recalled_demos"] >= 1
        assert traj.details["prompt"]["notes"] == []
        opening = traj.messages[traj.details["prompt"]["task_message"]]["content"]
        new_value = re.findall(r'"([^"]*)"', objective(opening))[0]
        shown = [
            m["content"] for m in traj.messages if m["role"] == "assistant" and SENTENCE.search(m["content"])
        ]
        old_value = learned_values[traj.task.template_id]
        assert new_value != old_value  # another instance, another value, to which the turns were rewritten
        assert any(re.search(rf"\b{re.escape(new_value)}\b", turn) for turn in shown)
        assert not any(re.search(rf"\b{re.escape(old_value)}\b", turn) for turn in shown)


def test_without_the_turns_the_copying_model_fails(tmp_path):
    summary, _ = run_with_learners(
        config(False), tmp_path, FunctionModel(copies), get_suite("miniwob-lite"), tasks("test")
    )
    assert summary.successes == 0
