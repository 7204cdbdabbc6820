"""The whole graph on real HumanEval problems in the bwrap sandbox, with scripted models."""

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.config import LimitsConfig
from agentevo.protocols import Change, Recollection
from agentevo.records import Observation, ToolSpec
from agentevo.testing import ScriptedModel
from tests.helpers import code_env, episode, humaneval_task, solution

TASK_ID = "HumanEval/0"


@pytest.fixture
def env():
    e = code_env()
    yield e
    e.close()


def test_a_correct_solution_scores_one(env):
    task = humaneval_task(TASK_ID)
    model = ScriptedModel([solution(task)])
    traj = run_episode(task, episode(env, model), episode_id="e1")
    assert (traj.outcome, traj.reward, len(traj.steps)) == ("success", 1.0, 1)
    assert traj.steps[0].observation.done
    model.assert_complete()


def test_a_wrong_solution_scores_zero_and_the_failure_is_shown_to_the_model(env):
    task = humaneval_task(TASK_ID)
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    model = ScriptedModel([wrong, solution(task).replace("return True", "return False")])
    traj = run_episode(task, episode(env, model, max_steps=2), episode_id="e2")
    assert (traj.outcome, traj.reward) == ("limit", 0.0)
    feedback = model.calls[1].messages[-1]["content"]
    assert "AssertionError" in feedback and "failed its tests" in feedback


def test_an_infinite_loop_is_killed_by_the_time_limit_and_scores_zero(env):
    task = humaneval_task(TASK_ID)
    loop = "```python\ndef has_close_elements(numbers, threshold):\n    while True:\n        pass\n```"
    traj = run_episode(task, episode(env, ScriptedModel([loop]), max_steps=1), episode_id="e3")
    assert traj.reward == 0.0
    assert env.details["last"]["timed_out"]
    assert "did not finish" in traj.steps[0].observation.text


def test_a_retry_after_failure_can_succeed(env):
    task = humaneval_task(TASK_ID)
    model = ScriptedModel(["```python\ndef has_close_elements(n, t):\n    return None\n```", solution(task)])
    traj = run_episode(task, episode(env, model, max_steps=3), episode_id="e4")
    assert (traj.outcome, len(traj.steps)) == ("success", 2)


def test_unparsable_replies_get_feedback_then_stop(env):
    task = humaneval_task(TASK_ID)
    model = ScriptedModel(["I think you should sort the list."] * 3)
    traj = run_episode(task, episode(env, model, max_steps=10, max_format_errors=3), episode_id="e5")
    assert traj.outcome == "failure" and len(traj.steps) == 3
    assert traj.details["stop_reason"] == "no usable reply"
    assert all(s.error and "python" in s.error for s in traj.steps)
    assert "could not find Python code" in model.calls[1].messages[-1]["content"]


def test_repeating_the_same_action_stops_the_episode(env):
    task = humaneval_task(TASK_ID)
    same = "```python\ndef has_close_elements(numbers, threshold):\n    return 1\n```"
    traj = run_episode(
        task, episode(env, ScriptedModel([same] * 3), max_steps=10, max_repeats=3), episode_id="e6"
    )
    assert traj.details["stop_reason"] == "repeated action" and len(traj.steps) == 3


def test_experience_is_shown_as_demonstration_turns(env):
    task = humaneval_task(TASK_ID)

    class Recall:
        name = "recall"

        def recall(self, task, observation):
            return Recollection(
                demonstrations=[
                    ("Solve: add two numbers", "```python\ndef add(a, b):\n    return a + b\n```")
                ],
                notes=["Check every pair."],
                retrieved=["mem-1"],
            )

        def learn(self, trajectory):
            return Change(self.name)

    model = ScriptedModel([solution(task)])
    ep = Episode(env=env, model=model, learners=[Recall()])
    traj = run_episode(task, ep, episode_id="e7")
    roles = [m["role"] for m in model.calls[0].messages]
    assert roles == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]  # builtin demo + recalled one
    assert model.calls[0].messages[3]["content"] == "Solve: add two numbers"
    assert "Check every pair." in model.calls[0].messages[-1]["content"]
    assert traj.steps[0].retrieved == ("mem-1",)


def test_offered_tools_are_called_through_their_handlers(env):
    task = humaneval_task(TASK_ID)
    calls = []

    def handler(action, environment):
        calls.append(action.args)
        return environment.step(environment.parse_action(solution(task)))

    class Recall:
        name = "tools"

        def recall(self, task, observation):
            return Recollection(
                tools=[ToolSpec(name="solve_it", description="Solves it.")], handlers={"solve_it": handler}
            )

        def learn(self, trajectory):
            return Change(self.name)

    model = ScriptedModel(['call solve_it {"hint": 1}'])
    traj = run_episode(task, Episode(env=env, model=model, learners=[Recall()]), episode_id="e8")
    assert traj.outcome == "success" and calls == [{"tool": "solve_it", "args": {"hint": 1}}]
    assert "solve_it" in model.calls[0].messages[-1]["content"]


def test_model_errors_become_steps_not_crashes(env):
    from agentevo.errors import ModelError

    task = humaneval_task(TASK_ID)
    model = ScriptedModel([ModelError("timed out"), solution(task)])
    traj = run_episode(task, episode(env, model, max_steps=3), episode_id="e9")
    assert traj.steps[0].error == "model error: timed out" and traj.outcome == "success"


def test_an_interrupted_episode_resumes_from_its_stored_steps(env):
    from agentevo.errors import Cancelled

    task = humaneval_task(TASK_ID)
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return None\n```"
    stored = []

    class Store:
        def on_step(self, episode_id, step):
            stored.append(step)

    class CancelAfterFirst(ScriptedModel):
        def complete(self, *args, **kwargs):
            reply = super().complete(*args, **kwargs)
            ep.cancel.set()
            return reply

    ep = Episode(env=env, model=CancelAfterFirst([wrong]), limits=LimitsConfig(max_steps=4), hooks=Store())
    with pytest.raises(Cancelled):
        run_episode(task, ep, episode_id="e10")
    assert len(stored) == 1 and "failed its tests" in stored[0].observation.text
    second = ScriptedModel([solution(task)])
    fresh = Episode(env=code_env(), model=second, limits=LimitsConfig(max_steps=4))
    traj = run_episode(task, fresh, episode_id="e10", done=stored)
    assert [s.index for s in traj.steps] == [0, 1] and traj.outcome == "success"
    assert second.calls[0].messages[-2]["content"] == wrong  # the resumed model sees the first attempt
    assert "failed its tests" in second.calls[0].messages[-1]["content"]
    fresh.env.close()


def test_observation_errors_are_shown_to_the_model():
    from agentevo.agent.graph import render_observation

    text = render_observation("code", Observation(text="page", error="no element [12]"))
    assert text.startswith("ERROR: no element [12]")
