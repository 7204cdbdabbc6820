"""Reflectors: a workflow from a success, a pitfall from a failure; the LLM reflector's strict schema."""

import json

import pytest

from agentevo.agent.episode import run_episode
from agentevo.errors import ModelError
from agentevo.memory.llm_reflector import LLMReflector, parse_items
from agentevo.memory.reflect import CombinedReflector, WorkflowReflector
from agentevo.testing import ScriptedModel
from tests.helpers import code_env, episode, humaneval_task, solution
from tests.memory.builders import step, trajectory

WRONG = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"


@pytest.fixture
def env():
    e = code_env()
    yield e
    e.close()


def test_a_successful_episode_yields_a_workflow_whose_demonstration_is_the_passing_solution(env):
    task = humaneval_task("HumanEval/0")
    model = ScriptedModel([WRONG, solution(task)])
    traj = run_episode(
        task, episode(env, model, max_steps=3), episode_id="run-9:HumanEval/0#0", run_id="run-9"
    )
    assert traj.outcome == "success"
    [item] = WorkflowReflector().reflect(traj)
    assert item.kind == "workflow" and item.trust == "trusted"
    user, assistant = item.demonstration
    assert user == {"role": "user", "content": task.instruction}
    passing = f"```python\n{task.meta['prompt']}{task.meta['reference']}".rstrip() + "\n```"
    assert assistant == {"role": "assistant", "content": passing}  # the second attempt, not the first
    assert (item.scope.suite, item.scope.template) == ("humaneval", "HumanEval/0")
    assert item.provenance.trajectory_ids == (traj.id,) and item.provenance.run_id == "run-9"
    assert "{name}" in item.content  # has_close_elements is a value of the instruction


def test_a_failed_episode_yields_a_pitfall_with_the_error_it_met(env):
    task = humaneval_task("HumanEval/0")
    traj = run_episode(task, episode(env, ScriptedModel([WRONG]), max_steps=1), episode_id="e2")
    [item] = WorkflowReflector().reflect(traj)
    assert item.kind == "pitfall" and item.demonstration == ()
    assert "AssertionError" in item.content and "return False" in item.content
    assert item.title.startswith("Pitfall on HumanEval/0: AssertionError")


def test_an_unusable_reply_becomes_a_pitfall_about_the_format(env):
    task = humaneval_task("HumanEval/0")
    traj = run_episode(task, episode(env, ScriptedModel(["no code here"]), max_steps=1), episode_id="e3")
    [item] = WorkflowReflector().reflect(traj)
    assert "could not be used" in item.content and "Python code" in item.content


def test_an_errored_or_empty_episode_yields_nothing():
    broken = trajectory("do it", [], outcome="error")
    assert WorkflowReflector().reflect(broken) == []


def test_a_workflow_parameterises_the_values_the_instruction_names():
    traj = trajectory(
        'Create the file /tmp/notes.txt containing "hello world"',
        [
            step(0, "mkdir -p /tmp", ""),
            step(1, "cat /nope", "", error="No such file"),  # a failed step is not part of the sequence
            step(2, 'echo "hello world" > /tmp/notes.txt', "", done=True),
        ],
    )
    [item] = WorkflowReflector().reflect(traj)
    assert item.description == 'Create the file {path} containing "{text}"'
    assert 'echo "{text}" > {path}' in item.content and "cat /nope" not in item.content
    roles = [m["role"] for m in item.demonstration]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert item.demonstration[0]["content"] == traj.task.instruction


def test_combined_reflectors_concatenate():
    traj = trajectory("x", [step(0, "ls", "a b", done=True)])
    both = CombinedReflector([WorkflowReflector(), WorkflowReflector()])
    assert [i.kind for i in both.reflect(traj)] == ["workflow", "workflow"]


GOOD = {
    "items": [
        {
            "kind": "insight",
            "title": "Check the tests first",
            "description": "Read them.",
            "content": "Run them.",
        },
        {
            "kind": "pitfall",
            "title": "Off by one",
            "description": "",
            "content": "range(n-1) misses the end.",
        },
    ]
}


def test_the_llm_reflector_turns_a_schema_valid_reply_into_items_and_shows_the_schema_by_example():
    traj = trajectory(
        "Count lines of /data/a.txt", [step(0, "wc -l /data/a.txt", "3", done=True)], kind="web"
    )
    model = ScriptedModel([f"Here you go:\n```json\n{json.dumps(GOOD)}\n```"])
    items = LLMReflector(model).reflect(traj)
    assert [(i.kind, i.title) for i in items] == [
        ("insight", "Check the tests first"),
        ("pitfall", "Off by one"),
    ]
    assert all(i.trust == "untrusted" and i.provenance.trajectory_ids == (traj.id,) for i in items)
    roles = [m["role"] for m in model.calls[0].messages]
    assert roles == ["system", "user", "assistant", "user"]
    json.loads(model.calls[0].messages[2]["content"])  # the demonstration is itself valid output
    assert "wc -l /data/a.txt" in model.calls[0].messages[3]["content"]


@pytest.mark.parametrize(
    "reply",
    [
        "I think the agent did well.",
        "{not json",
        json.dumps({"lessons": GOOD["items"]}),
        json.dumps({"items": "none"}),
        json.dumps([GOOD]),
        json.dumps({"items": [{"kind": "rumour", "title": "x y z", "content": "abc"}]}),
        json.dumps({"items": [{"kind": "insight", "title": "x y z", "content": "abc", "extra": 1}]}),
    ],
)
def test_unparsable_or_off_schema_replies_are_dropped(reply):
    traj = trajectory("x", [step(0, "ls", "a", done=True)])
    assert LLMReflector(ScriptedModel([reply])).reflect(traj) == []


def test_an_empty_list_is_a_good_answer_and_at_most_three_items_are_kept():
    assert parse_items('{"items": []}') == []
    many = {"items": [{"kind": "insight", "title": f"lesson {i}", "content": "do it"} for i in range(6)]}
    assert len(parse_items(json.dumps(many))) == 3
    mixed = {"items": [GOOD["items"][0], {"kind": "insight", "title": "", "content": "x"}]}
    assert [i.title for i in parse_items(json.dumps(mixed))] == ["Check the tests first"]


def test_a_failing_reflector_model_yields_nothing():
    traj = trajectory("x", [step(0, "ls", "a", done=True)])
    assert LLMReflector(ScriptedModel([ModelError("rate limited")])).reflect(traj) == []
