"""Web macros in real Chromium: a scripted episode on a served form is compiled into a macro addressed by
role and name, registered after a replay, then solves a new instance of the template with new arguments."""

from __future__ import annotations

import json
import re

import pytest

from agentevo.agent.episode import run_episode
from agentevo.benchmarks import SUITES, Suite
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions
from agentevo.records import Task
from agentevo.testing import FunctionModel
from agentevo.tools.compiler import compile_trajectory
from agentevo.tools.execute import ToolExecutor
from agentevo.tools.replay import SuiteEnvs
from tests.envs.web.pages import page, serve
from tests.helpers import episode
from tests.tools.helpers import make_archive

FORM = page(
    "Greeting form",
    "<p id=say></p><label for=who>Name</label><input id=who>"
    "<label for=size>Size</label><select id=size><option>small</option><option>large</option></select>"
    "<button id=go>Submit</button><div id=result></div>"
    "<script>"
    "const want = new URLSearchParams(location.search);"
    "window.REWARD = null;"
    "document.getElementById('go').onclick = () => {"
    "  const ok = document.getElementById('who').value === want.get('word');"
    "  window.REWARD = ok ? 1 : 0;"
    "  document.getElementById('result').textContent = ok ? 'Correct' : 'Wrong';"
    "};"
    "</script>",
)


class FormDriver:
    """Opens the task's page; the page itself says when the episode is over and what it earned."""

    def context_options(self, task):
        return {}

    def start(self, env, task):
        env.open_start_urls(task.meta["start_url"])

    def poll(self, env):
        reward = env.page.evaluate("window.REWARD")
        return (reward is not None, reward)

    def score(self, task, trajectory, env):
        reward = env.call(lambda: env.page.evaluate("window.REWARD"))
        return float(reward or 0.0), {"evaluator": "page"}


@pytest.fixture(scope="module")
def site():
    with serve({"/form": FORM}) as base:
        yield base


def form_task(base: str, word: str, n: int) -> Task:
    return Task(
        id=f"greet-{n}",
        suite="greet",
        kind="web",
        instruction=f'Enter "{word}" into the Name field and press Submit.',
        template_id="greet.enter-name",
        meta={"start_url": f"{base}/form?word={word}"},
    )


@pytest.fixture(scope="module")
def greet_suite(site, tmp_path_factory):
    runs = tmp_path_factory.mktemp("web-runs")
    tasks = [form_task(site, w, i) for i, w in enumerate(["Kevin", "Ada", "Grace"])]

    def make_env(ctx):
        return PlaywrightWebEnvironment(
            FormDriver(), WebOptions(max_obs_tokens=0, screenshots=False), screenshot_root=runs
        )

    mp = pytest.MonkeyPatch()
    mp.setitem(SUITES, "greet", Suite("greet", "web", "served form", lambda: tasks, make_env))
    yield tasks
    mp.undo()


def node_id(text: str, role: str, name: str) -> str:
    match = re.search(rf"\[(\d+)\] {role} '{re.escape(name)}'", text)
    assert match, f"no {role} {name!r} in {text}"
    return match.group(1)


def solver(messages, tools):
    """Types the quoted name into the Name box, then clicks Submit, reading ids off the page."""
    page_text = messages[-1]["content"]
    word = re.search(r'Enter "([^"]+)"', str(messages)).group(1)
    typed = any(f"[{word}]" in m["content"] for m in messages if m["role"] == "assistant")
    if not typed:
        return f"```type [{node_id(page_text, 'textbox', 'Name')}] [{word}] [0]```"
    return f"```click [{node_id(page_text, 'button', 'Submit')}]```"


@pytest.fixture(scope="module")
def source(greet_suite):
    env = SUITES["greet"].make_env(None)
    traj = run_episode(
        greet_suite[0], episode(env, FunctionModel(solver), max_steps=4), episode_id="greet-src"
    )
    env.close()
    return traj


@pytest.fixture(scope="module")
def archive(tmp_path_factory, greet_suite):
    envs = SuiteEnvs(tmp_path_factory.mktemp("ws"))
    a = make_archive(tmp_path_factory.mktemp("web") / "tools_archive", envs=envs)
    yield a
    envs.close()


def test_the_scripted_episode_succeeds_and_records_targets(source):
    assert source.outcome == "success"
    targets = [s.observation.meta.get("target") for s in source.steps]
    assert targets == [{"role": "textbox", "name": "Name"}, {"role": "button", "name": "Submit"}]


def test_the_macro_is_addressed_by_role_and_name_with_the_quoted_value_as_parameter(source):
    cand = compile_trajectory(source).candidate
    tool = cand.tool
    assert (tool.name, tool.kind) == ("enter_name", "web")
    assert "'id'" not in tool.source  # no per-page ids anywhere
    assert "'role': 'textbox', 'name': 'Name', 'text': name" in tool.source
    assert "'role': 'button', 'name': 'Submit'" in tool.source
    assert cand.replays[0].args == {"name": "Kevin"}


def test_the_registered_macro_solves_a_new_instance_with_new_arguments(source, archive, greet_suite):
    report = archive.submit(compile_trajectory(source).candidate)
    assert report.replays[0].ok and report.replays[0].reward == 1.0
    tool = archive.get("enter_name")
    assert tool.parameters["properties"] == {"name": {"type": "string"}}
    env = SUITES["greet"].make_env(None)
    try:
        executor = ToolExecutor(archive.sandbox_factory)
        new = greet_suite[2]  # "Grace": an instance the macro never saw
        env.reset(new)
        done = executor.perform(tool, {"name": "Grace"}, env)
        assert done.ok and done.observation.done and done.observation.reward == 1.0
        assert [s.action.name for s in done.steps] == ["type", "click"]
        env.reset(greet_suite[1])
        wrong = executor.perform(tool, {"name": "Grace"}, env)  # wrong argument for this instance
        assert wrong.observation.reward == 0.0
    finally:
        env.close()


def test_a_macro_whose_element_is_gone_fails_as_an_observation(archive, greet_suite):
    tool = archive.get("enter_name")
    broken = tool.model_copy(update={"source": tool.source.replace("'Submit'", "'Send'")})
    env = SUITES["greet"].make_env(None)
    try:
        env.reset(greet_suite[1])
        done = ToolExecutor(archive.sandbox_factory).perform(broken, {"name": "Ada"}, env)
    finally:
        env.close()
    assert not done.ok and "step 2 of 2 (click button 'Send')" in done.observation.error
    assert "no button named 'Send'" in done.observation.error


def test_the_tool_json_records_the_replay(archive):
    meta = json.loads((archive.root / "enter_name" / "v1" / "tool.json").read_text())
    assert meta["kind"] == "web" and meta["replays"][0]["args"] == {"name": "Kevin"}
    assert meta["scope"]["suite"] == "greet"
