"""Every local-web task is solvable: its reference, replayed as id actions in the real browser after a site
reset, scores 1 with the real WebArena evaluators; stopping at once (no state change) scores 0.

One browser and one site set serve the whole module. The full parametrisation is `slow`; one instance of
every other template (13 of 26, all three evaluator types, both sites) runs in the fast tier.
"""

from __future__ import annotations

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.benchmarks import get_suite
from agentevo.benchmarks.localweb import NAME, make_instances
from agentevo.benchmarks.localweb.build import TEMPLATES
from agentevo.benchmarks.localweb.driver import LocalWebEnvironment
from agentevo.benchmarks.localweb.reference import REFRESH, ReplayError, replay, resolve
from agentevo.config import LimitsConfig
from agentevo.envs.web import WebOptions
from agentevo.testing import FunctionModel, last_user_text

# A click's navigation (or form post) can start late on a loaded machine; give it half a second to start
# before the page is observed or the episode scored.
OPTIONS = WebOptions(screenshots=False, navigation_grace_ms=500)
TASKS = get_suite(NAME).tasks("all")
FIRST_OF_TEMPLATE = {t.template_id: t for t in reversed(TASKS)}
FAST = {FIRST_OF_TEMPLATE[tid].id for tid in sorted(FIRST_OF_TEMPLATE)[::2]}  # 13 templates, both sites


def marked(task):
    fast = task.id in FAST
    return pytest.param(task, id=f"{task.id}-t{task.template_id}", marks=() if fast else pytest.mark.slow)


@pytest.fixture(scope="module")
def env():
    e = LocalWebEnvironment(OPTIONS)
    yield e
    e.close()


@pytest.mark.parametrize("task", [marked(t) for t in TASKS])
def test_the_reference_scores_1_and_stopping_at_once_scores_0(env, task):
    solved = replay(env, task)
    assert solved.reward == 1.0, solved.details
    # every page on the way fits WebArena's 1920-token observation: the agent could see what it needs
    assert not any(s.observation.meta.get("truncated") for s in solved.steps)
    untouched = replay(env, task, [{"action": "stop", "answer": ""}])
    assert untouched.reward == 0.0, untouched.details


@pytest.mark.parametrize(
    "tid",
    [pytest.param(t, marks=() if i == 0 else pytest.mark.slow) for i, t in enumerate(sorted(TEMPLATES)[::5])],
)
def test_fresh_instances_are_solvable_too(env, tid):
    for task in make_instances(tid, 1, seed=11):
        assert replay(env, task).reward == 1.0


def test_every_episode_starts_from_the_seed(env):
    buy = next(t for t in TASKS if t.template_id == "112")
    assert replay(env, buy).reward == 1.0
    # the order placed above is gone: checking again without acting fails, as on a fresh site
    assert replay(env, buy, [{"action": "stop", "answer": ""}]).reward == 0.0
    assert env.details["site_reset_ms"] >= 0


def test_a_wrong_answer_scores_0(env):
    price = next(t for t in TASKS if t.template_id == "101")
    wrong = [*price.meta["reference"][:-1], {"action": "stop", "answer": "$0.01"}]
    assert replay(env, price, wrong).reward == 0.0


def test_a_reference_naming_a_missing_element_says_which(env):
    task = TASKS[0]
    with pytest.raises(ReplayError, match="no link named 'Nowhere'"):
        replay(env, task, [{"action": "click", "role": "link", "name": "Nowhere"}, {"action": "stop"}])


def test_an_agent_reading_ids_off_the_page_solves_a_task_through_the_graph(env):
    """The agent loop end to end: a model that resolves the reference against what it is shown."""
    task = next(t for t in TASKS if t.template_id == "206")
    pending = list(task.meta["reference"])

    def reply(messages, tools):
        shown = next(line[5:] for line in last_user_text(messages).splitlines() if line.startswith("URL: "))
        if env.call(lambda: env.page.url) != shown:
            return REFRESH  # the page was observed before a late navigation: look again
        try:
            action = resolve(pending[0], env)
        except ReplayError:
            return REFRESH
        pending.pop(0)
        return action

    model = FunctionModel(reply)
    episode = Episode(env=env, model=model, limits=LimitsConfig(max_steps=12))
    trajectory = run_episode(task, episode, episode_id=f"graph-{task.id}")
    assert trajectory.outcome == "success" and trajectory.reward == 1.0
    assert trajectory.steps[-1].action.name == "stop"
    assert not pending
    assert all(s.observation.meta.get("target") for s in trajectory.steps if s.action.name == "click")
