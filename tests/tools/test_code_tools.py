"""Code tools end to end: a scripted run solves a HumanEval problem, the compiler registers the solution as a
tool that answers new inputs in the sandbox, the next run calls it, and the CLI shows the calls."""

import json
import subprocess
import sys

import pytest

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.records import ModelReply, Observation, ToolCall
from agentevo.testing import FunctionModel
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.execute import ToolExecutor
from agentevo.tools.folder import content_hash
from agentevo.tools.wiring import settings_for
from tests.helpers import run_with_learners, solution
from tests.tools.helpers import BACKEND

TASK_ID = "HumanEval/0"
CALL = 'call has_close_elements {"numbers": [1.0, 1.2, 7.0], "threshold": 0.5}'


def run_config(**archive_options):
    return RunConfig.model_validate(
        {
            "sandbox": {"backend": BACKEND},
            "limits": {"max_steps": 3},
            "environment": {"suite": "humaneval", "task_ids": [TASK_ID]},
            "archive": {"enabled": True, "options": {"embedder": "hash", **archive_options}},
        }
    )


def scripted_run(workspace, model):
    cfg = run_config()
    suite = get_suite("humaneval")
    tasks = [t for t in suite.tasks("all") if t.id == TASK_ID]
    return run_with_learners(cfg, workspace, model, suite, tasks)


def solver():
    task = next(t for t in get_suite("humaneval").tasks("all") if t.id == TASK_ID)
    return FunctionModel(lambda messages, tools: solution(task))


def tool_user():
    """Calls the archived tool once when it is offered, then submits the solution."""
    task = next(t for t in get_suite("humaneval").tasks("all") if t.id == TASK_ID)

    def reply(messages, tools):
        offered = "- has_close_elements:" in str(messages)
        called = any(m["role"] == "assistant" and m["content"].startswith("call ") for m in messages)
        return CALL if offered and not called else solution(task)

    return FunctionModel(reply)


def native_tool_user():
    """Calls the archived tool through native function calling, as a model that supports it would."""
    task = next(t for t in get_suite("humaneval").tasks("all") if t.id == TASK_ID)

    def reply(messages, tools):
        called = any(m["role"] == "assistant" and m["content"].startswith("call ") for m in messages)
        if any(t.name == "has_close_elements" for t in tools) and not called:
            args = {"numbers": [1.0, 1.2, 7.0], "threshold": 0.5}
            return ModelReply(text="", tool_calls=(ToolCall(name="has_close_elements", arguments=args),))
        return solution(task)

    return FunctionModel(reply, supports_tools=True)


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("code-tools")
    summary, _runner = scripted_run(workspace, solver())
    assert summary.successes == 1
    return workspace


def test_a_successful_run_registers_the_solution_as_a_tested_tool(learned):
    archive = FileToolArchive.for_workspace(learned, settings_for(run_config()))
    tool = archive.get("has_close_elements")
    assert (tool.version, tool.kind, tool.status) == (1, "code", "active")
    assert tool.parameters["properties"] == {
        "numbers": {"type": "array", "items": {"type": "number"}},
        "threshold": {"type": "number"},
    }
    folder = learned / "tools_archive" / "has_close_elements" / "v1"
    meta = json.loads((folder / "tool.json").read_text())
    assert meta["sha256"] == content_hash(
        (folder / "tool.py").read_text(), (folder / "test_tool.py").read_text()
    )
    assert meta["provenance"]["source"] == "compiler" and meta["replays"][0]["task"]["id"] == TASK_ID
    assert meta["scope"] == {"suite": "humaneval", "site": "", "template": TASK_ID}


def test_the_compiled_function_answers_new_inputs_in_the_sandbox(learned):
    archive = FileToolArchive.for_workspace(learned, settings_for(run_config()))
    executor = ToolExecutor(archive.sandbox_factory)
    tool = archive.get("has_close_elements")
    cases = [([10.0, 20.0, 20.4], 0.5, True), ([10.0, 20.0, 30.0], 5.0, False), ([], 1.0, False)]
    for numbers, threshold, expected in cases:
        result = executor.evaluate(tool, {"numbers": numbers, "threshold": threshold})
        assert result.ok and result.value is expected


def test_a_later_run_calls_the_tool_and_the_cli_lists_its_calls(learned):
    summary, runner = scripted_run(learned, tool_user())
    assert summary.successes == 1
    traj = next(runner.store.trajectories([summary.run_id]))
    first = traj.steps[0]
    assert first.action.name == "call" and first.observation.text == "has_close_elements returned: true"
    assert "tool:has_close_elements@v1" in first.retrieved
    listed = subprocess.run(
        [sys.executable, "-m", "agentevo.cli", "tools", "list", "--json", "-w", str(learned)],
        capture_output=True,
        text=True,
        check=True,
    )
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "has_close_elements")
    assert (row["calls"], row["ok"], row["failed"]) == (1, 1, 0)
    assert row["p50_ms"] > 0


def test_a_model_with_function_calling_gets_the_tools_as_specs_and_calls_natively(learned):
    model = native_tool_user()
    summary, runner = scripted_run(learned, model)
    assert summary.successes == 1
    assert [t.name for t in model.calls[0].tools] == ["has_close_elements"]
    first = next(runner.store.trajectories([summary.run_id])).steps[0]
    assert first.action.name == "call" and first.observation.text == "has_close_elements returned: true"
    assert model.calls[1].messages[-2]["content"].startswith("call has_close_elements {")


def test_tool_results_are_observations_not_crashes(learned):
    from agentevo.tools.recall import ToolRecall

    archive = FileToolArchive.for_workspace(learned, settings_for(run_config()))
    recall = ToolRecall(archive)
    tool = archive.get("has_close_elements")
    bad = recall.call(tool, {"numbers": "not a list", "threshold": 1}, env=None)
    assert isinstance(bad, Observation) and "bad arguments" in bad.error
    assert archive.get("has_close_elements").stats.failed == 0  # the model's mistake, not the tool's
