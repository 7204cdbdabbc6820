"""MiniWoB++ web macros end to end in real Chromium: a scripted run solves three pages, the compiler
registers each as a macro addressed by role and name (replayed on the same instance first), and each macro
solves a new instance of its page, with new arguments read off the new instance's instruction."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.testing import FunctionModel, last_user_text
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.execute import ToolExecutor
from agentevo.tools.wiring import settings_for
from tests.helpers import run_with_learners
from tests.tools.helpers import BACKEND

PAGES = ("click-button", "enter-text", "login-user")
LEARNED = (*PAGES, "click-dialog")
RUN_SEED = 3


def objective(text: str) -> str:
    return re.search(r"^OBJECTIVE: (.*)$", text, re.M).group(1)


def element(text: str, role: str, name: str, nth: int = 0) -> str:
    return re.findall(rf"\[(\d+)\] {role} '{re.escape(name)}'", text)[nth]


def quoted(text: str) -> list[str]:
    return re.findall(r'"([^"]*)"', text)


def reply(messages, tools):
    """Reads the objective and the element ids off the page, like an agent that knows these pages."""
    page = last_user_text(messages)
    goal = objective(page)
    n = sum(m["role"] == "assistant" for m in messages) - 3  # minus the built-in demonstration turns
    if goal.startswith("Close the dialog"):  # first a click on the instruction's text, which does nothing
        target = element(page, "StaticText", goal) if n == 0 else element(page, "button", "Close")
        return f"```click [{target}]```"
    if goal.startswith("Click on the"):
        return f"```click [{element(page, 'button', quoted(goal)[0])}]```"
    if goal.startswith('Enter "'):
        steps = [f"type [{element(page, 'textbox', '')}] [{quoted(goal)[0]}] [0]", "click [{}]"]
        return "```" + steps[n].format(element(page, "button", "Submit")) + "```"
    user, password = quoted(goal)
    steps = [
        f"type [{element(page, 'textbox', '')}] [{user}] [0]",
        f"type [{element(page, 'textbox', '', 1)}] [{password}] [0]",
        f"click [{element(page, 'button', 'Login')}]",
    ]
    return f"```{steps[n]}```"


def config() -> RunConfig:
    return RunConfig.model_validate(
        {
            "sandbox": {"backend": BACKEND},
            "limits": {"max_steps": 4},
            "environment": {"suite": "miniwob-lite", "options": {"screenshots": False}},
            "archive": {"enabled": True, "options": {"embedder": "hash"}},
            "run": {"seed": RUN_SEED},
        }
    )


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    ws = tmp_path_factory.mktemp("miniwob-tools")
    suite = get_suite("miniwob-lite")
    tasks = [t for t in suite.tasks("all") if t.id in {f"{p}/train" for p in LEARNED}]
    summary, _ = run_with_learners(config(), ws, FunctionModel(reply), suite, tasks)
    assert summary.successes == len(LEARNED)
    return ws


def test_each_solved_page_becomes_a_role_and_name_macro(learned):
    archive = FileToolArchive.for_workspace(learned, settings_for(config()))
    assert archive.state() == {"click_button": 1, "enter_text": 1, "login_user": 1, "click_dialog": 1}
    login = archive.get("login_user")
    assert list(login.parameters["properties"]) == ["username", "password"]
    assert "'role': 'textbox', 'name': '', 'text': password, 'enter': False, 'nth': 1" in login.source
    assert "'id'" not in login.source
    replay = archive.replays("click_button", 1)[0]
    assert replay.task.meta["seed"] == RUN_SEED and set(replay.args) == {"button"}


@pytest.mark.parametrize("page", PAGES)
def test_the_macro_solves_a_new_instance_with_new_arguments(learned, page):
    archive = FileToolArchive.for_workspace(learned, settings_for(config()))
    tool = archive.get(page.replace("-", "_"))
    source = archive.replays(tool.name, 1)[0]
    with live_page(archive) as env:
        goal = objective_of(env.reset(new_instance(page)))
        args = dict(zip(tool.parameters["properties"], quoted(goal), strict=True))
        assert args != source.args  # a new instance asks for something else
        done = ToolExecutor(archive.sandbox_factory).perform(tool, args, env)
    assert done.ok, done.error
    assert done.observation.done and done.observation.reward == 1.0


def test_a_click_that_changed_nothing_is_left_out_of_the_macro(learned):
    archive = FileToolArchive.for_workspace(learned, settings_for(config()))
    tool = archive.get("click_dialog")
    assert "'role': 'button', 'name': 'Close'" in tool.source and "StaticText" not in tool.source
    with live_page(archive) as env:
        env.reset(new_instance("click-dialog"))
        done = ToolExecutor(archive.sandbox_factory).perform(tool, {}, env)
    assert done.ok and done.observation.reward == 1.0


def new_instance(page: str):
    """The page's training task with a seed the scripted run never saw."""
    task = next(t for t in get_suite("miniwob-lite").tasks("all") if t.id == f"{page}/train")
    return task.model_copy(update={"meta": {**task.meta, "seed": 4242}})


@contextmanager
def live_page(archive):
    env = get_suite("miniwob-lite").make_env(archive.envs.context())  # type: ignore[attr-defined]
    try:
        yield env
    finally:
        env.close()


def objective_of(observation) -> str:
    return observation.meta["objective"]


def test_a_later_episode_is_offered_the_macro_and_solves_the_page_in_one_call(learned):
    """The recall query is the page's own utterance; the macro runs against the live page."""
    calls = []

    def caller(messages, tools):
        page = last_user_text(messages)
        calls.append("- click_button:" in str(messages))
        return f'call click_button {{"button": "{quoted(objective(page))[0]}"}}'

    suite = get_suite("miniwob-lite")
    tasks = [t for t in suite.tasks("all") if t.id == "click-button/test"]  # held-out seeds
    summary, runner = run_with_learners(config(), learned, FunctionModel(caller), suite, tasks)
    traj = next(runner.store.trajectories([summary.run_id]))
    assert calls == [True] and traj.outcome == "success" and len(traj.steps) == 1
    assert traj.steps[0].action.args == {
        "tool": "click_button",
        "args": {"button": quoted(traj.details["utterance"])[0]},
    }
    stats = FileToolArchive.for_workspace(learned, settings_for(config())).get("click_button").stats
    assert (stats.calls, stats.ok, stats.failed) == (1, 1, 0)
