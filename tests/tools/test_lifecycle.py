"""A tool's life: retired after repeated failures, retired by `verify` when its environment changed, merged
with a twin."""

import json

import pytest

from agentevo.agent.episode import run_episode
from agentevo.benchmarks import SUITES, Suite
from agentevo.envs.code import CodeEnvironment
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.records import Observation, Task
from agentevo.testing import ScriptedModel
from agentevo.tools import lifecycle
from agentevo.tools.compiler import compile_trajectory
from agentevo.tools.recall import ToolRecall
from agentevo.tools.replay import SuiteEnvs
from tests.helpers import episode
from tests.tools.helpers import BACKEND, adder, code_tool, make_archive


def ratio_tool():
    tests = """
        from tool import ratio_of


        def test_divides():
            assert ratio_of(6, 3) == 2.0
    """
    return code_tool("ratio_of", "return a / b", tests, doc="Divide a by b.", returns="float")


def test_a_tool_that_keeps_failing_is_retired_and_no_longer_offered(tmp_path):
    archive = make_archive(tmp_path / "tools_archive", retire_min_calls=4, retire_failure_rate=0.5)
    archive.register(ratio_tool())
    recall = ToolRecall(archive)
    task = Task(id="t", suite="s", kind="code", instruction="divide a by b")
    assert [t.name for t in recall.recall(task, Observation(text="")).tools] == ["ratio_of"]
    tool = archive.get("ratio_of")
    for _ in range(3):
        obs = recall.call(tool, {"a": 1, "b": 0}, env=None)
        assert "ZeroDivisionError" in obs.error
    assert archive.get("ratio_of").status == "active"  # three calls are too few to judge
    recall.call(tool, {"a": 1, "b": 0}, env=None)
    row = archive.registry.get("ratio_of", 1)
    assert (row.status, row.reason) == ("retired", "failed 4 of its last 4 calls")
    assert recall.recall(task, Observation(text="")).tools == []
    assert "retired" in recall.call(tool, {"a": 4, "b": 2}, env=None).error
    stats = archive.get("ratio_of").stats
    assert (stats.calls, stats.ok, stats.failed) == (4, 0, 4)


def test_occasional_failures_do_not_retire_a_useful_tool(tmp_path):
    archive = make_archive(tmp_path / "tools_archive", retire_window=10, retire_failure_rate=0.5)
    archive.register(ratio_tool())
    recall = ToolRecall(archive)
    tool = archive.get("ratio_of")
    for b in (1, 2, 0, 3, 0, 4, 5, 0):
        recall.call(tool, {"a": 12, "b": b}, env=None)
    assert archive.get("ratio_of").status == "active"
    stats = archive.get("ratio_of").stats
    assert (stats.calls, stats.ok, stats.failed) == (8, 5, 3)


SHOUT_PROMPT = 'def shout(text: str) -> str:\n    """Upper-case the text and add an exclamation mark."""\n'
SHOUT = "```python\ndef shout(text: str) -> str:\n    return text.upper() + '!'\n```"


@pytest.fixture
def shout_suite(tmp_path, monkeypatch):
    """A user's own code suite, read from a JSON file on every load (as a suite file would be)."""
    path = tmp_path / "shout.json"

    def write(expected: str) -> None:
        tests = f"def check(candidate):\n    assert candidate('hi') == {expected!r}\n"
        meta = {"prompt": SHOUT_PROMPT, "tests": tests, "entry_point": "shout"}
        path.write_text(json.dumps([{"id": "shout-1", "instruction": "Write shout.", "meta": meta}]))

    def load():
        return [
            Task(suite="shout", kind="code", template_id="shout", **t) for t in json.loads(path.read_text())
        ]

    def make_env(ctx):
        return CodeEnvironment(lambda: open_sandbox(BACKEND, Limits(timeout_s=5)), timeout_s=5)

    write("HI!")
    monkeypatch.setitem(SUITES, "shout", Suite("shout", "code", "test suite", load, make_env))
    return write


def test_verify_retires_a_tool_whose_environment_changed(tmp_path, shout_suite):
    task = SUITES["shout"].tasks("all")[0]
    env = SUITES["shout"].make_env(None)
    traj = run_episode(task, episode(env, ScriptedModel([SHOUT])), episode_id="shout-run")
    env.close()
    assert traj.succeeded
    envs = SuiteEnvs(tmp_path)
    archive = make_archive(tmp_path / "tools_archive", envs=envs)
    archive.submit(compile_trajectory(traj).candidate)
    first = lifecycle.verify(archive)
    assert [(v.name, v.ok, v.action) for v in first.verdicts] == [("shout", True, "")]
    assert archive.registry.get("shout", 1).verified_at is not None

    shout_suite("HI!!")  # the task's checker now wants two marks: the environment changed
    second = lifecycle.verify(archive)
    envs.close()
    verdict = second.verdicts[0]
    assert (verdict.ok, verdict.action) == (False, "retired")
    assert verdict.detail.startswith("replay-failed: shout-1: reward 0")
    row = archive.registry.get("shout", 1)
    assert row.status == "retired" and row.reason.startswith("verify: replay-failed")


def test_verify_merges_two_active_tools_that_behave_the_same(tmp_path):
    archive = make_archive(tmp_path / "tools_archive")
    archive.register(adder())
    archive.register(adder("plus_two_ints", body="return b + a"))  # merged on arrival
    assert archive.state() == {"add_numbers": 1}
    archive.retire("add_numbers")
    archive.register(adder("plus_two_ints", body="return b + a"))  # no active twin now: added
    archive.registry.set_status("add_numbers", 1, "active")  # revived by hand
    report = lifecycle.verify(archive)
    merged = [v for v in report.verdicts if v.action == "merged"]
    assert [(v.name, v.detail) for v in merged] == [("plus_two_ints", "same behaviour as add_numbers")]
    assert archive.state() == {"add_numbers": 1}
