"""MiniWoB++ in the real browser: scripted correct and wrong action sequences through the agent graph."""

from __future__ import annotations

import re

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.benchmarks import get_suite
from agentevo.benchmarks.miniwob import EXCLUDED, LITE, MiniWoBDriver
from agentevo.config import LimitsConfig
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions
from agentevo.testing import FunctionModel, last_user_text


@pytest.fixture(scope="module")
def env():
    e = PlaywrightWebEnvironment(MiniWoBDriver(600_000), WebOptions(screenshots=False))
    yield e
    e.close()


def task(page: str, split: str = "train", seed: int = 3):
    t = next(t for t in get_suite("miniwob").tasks("all") if t.id == f"{page}/{split}")
    return t.model_copy(update={"meta": {**t.meta, "seed": seed}})


def objective(text: str) -> str:
    return re.search(r"^OBJECTIVE: (.*)$", text, re.M).group(1)


def find(text: str, role: str, name: str | None = None) -> str:
    pattern = rf"\[(\d+)\] {role} '{re.escape(name)}'" if name is not None else rf"\[(\d+)\] {role} "
    return re.search(pattern, text).group(1)


def script(*steps):
    """A model whose n-th reply is steps[n](observation text): it reads ids off the page, like an agent."""

    def reply(messages, tools):
        text = last_user_text(messages)
        index = sum(m["role"] == "assistant" for m in messages) - 3  # minus the built-in demo turns
        return steps[index](text) if index < len(steps) else "```stop []```"

    return FunctionModel(reply)


def play(env, t, model):
    return run_episode(t, Episode(env=env, model=model, limits=LimitsConfig(max_steps=6)), episode_id=t.id)


def wanted_button(text: str) -> str:
    return re.search(r'Click on the "(.*)" button', objective(text)).group(1)


def test_the_right_button_scores_1_and_ends_the_episode(env):
    traj = play(
        env, task("click-button"), script(lambda t: f"```click [{find(t, 'button', wanted_button(t))}]```")
    )
    assert (traj.reward, traj.outcome, len(traj.steps)) == (1.0, "success", 1)
    assert traj.steps[-1].observation.done
    assert traj.details["raw_reward"] == 1.0 and traj.details["utterance"].startswith("Click on the")


def test_a_wrong_button_scores_0(env):
    def wrong(text):
        ids = re.findall(r"\[(\d+)\] button '(.*)'", text)
        other = next(i for i, name in ids if name != wanted_button(text))
        return f"```click [{other}]```"

    t = task("click-button", seed=5)
    env.reset(t)
    if len(re.findall(r"\] button '", env.call(lambda: env.tree.text))) < 2:
        pytest.skip("this instance has a single button")
    traj = play(env, t, script(wrong))
    assert (traj.reward, traj.outcome) == (0.0, "failure")
    assert traj.details["raw_reward"] == -1.0


def typed_word(text: str) -> str:
    return re.search(r'Enter "(.*)" into the text field', objective(text)).group(1)


def test_typing_the_word_and_submitting_scores_1_and_a_wrong_word_0(env):
    right = script(
        lambda t: f"```type [{find(t, 'textbox')}] [{typed_word(t)}] [0]```",
        lambda t: f"```click [{find(t, 'button', 'Submit')}]```",
    )
    assert play(env, task("enter-text"), right).reward == 1.0
    wrong = script(
        lambda t: f"```type [{find(t, 'textbox')}] [{typed_word(t)}x] [0]```",
        lambda t: f"```click [{find(t, 'button', 'Submit')}]```",
    )
    assert play(env, task("enter-text"), wrong).reward == 0.0


def test_checkboxes_and_a_native_select_can_be_operated(env):
    def tick(text):
        word = re.search(r"Select (.*) and click Submit", objective(text)).group(1)
        return f"```click [{find(text, 'checkbox', word)}]```"

    boxes = task("click-checkboxes", seed=11)
    env.reset(boxes)
    if "Select nothing" in env.objective or "," in env.objective:
        pytest.skip("an instance with several boxes to tick")
    assert (
        play(env, boxes, script(tick, lambda t: f"```click [{find(t, 'button', 'Submit')}]```")).reward == 1.0
    )

    def choose(text):
        item = re.search(r"Select (.*) from the list", objective(text)).group(1)
        return f"```click [{find(text, 'option', item)}]```"

    listed = play(
        env, task("choose-list"), script(choose, lambda t: f"```click [{find(t, 'button', 'Submit')}]```")
    )
    assert listed.reward == 1.0


def test_seeds_fix_the_instance_and_the_splits_never_share_one(env):
    env.reset(task("enter-text", "train", seed=7))
    first = env.objective
    env.reset(task("enter-text", "train", seed=7))
    assert env.objective == first
    env.reset(task("enter-text", "test", seed=7))
    assert env.details["page_seed"] == 1_000_007
    env.reset(task("enter-text", "validation", seed=7))
    assert env.details["page_seed"] == 2_000_007


def test_the_suites_list_their_pages_in_all_three_splits():
    tasks = get_suite("miniwob").tasks("all")
    pages = {t.template_id for t in tasks}
    assert not pages & set(EXCLUDED)
    assert len(tasks) == 3 * len(pages) and {t.split for t in tasks} == {"train", "validation", "test"}
    lite = get_suite("miniwob-lite").tasks("test")
    assert [t.template_id for t in lite] == list(LITE) and len(LITE) == 20
