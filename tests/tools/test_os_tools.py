"""Shell tools end to end, in the sandbox: a scripted run solves `os` tasks, the compiler registers each as a
parameterised script (after a replay), the script solves a new instance of the same template with new
arguments, and `verify` retires a tool once its task changed under it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentevo.benchmarks import EnvContext, get_suite
from agentevo.benchmarks import os as os_suite
from agentevo.config import RunConfig
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.records import Action
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import ScriptedModel
from agentevo.tools import lifecycle
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.execute import ToolExecutor
from agentevo.tools.wiring import settings_for
from tests.helpers import run_with_learners
from tests.tools.helpers import BACKEND

pytestmark = pytest.mark.skipif(BACKEND == "local", reason="the os suite needs an isolating sandbox")
SOURCES = ["count-matching-lines-1", "make-private-1"]  # answered with the output; finished


@pytest.fixture(scope="module")
def os_tasks(tmp_path_factory):
    """The os suite read from a copy of its templates, so a test may change a task under a tool."""
    copy = tmp_path_factory.mktemp("os-suite") / "os"
    shutil.copytree(Path(os_suite.__file__).resolve().parents[2] / "environments" / "os", copy)
    mp = pytest.MonkeyPatch()
    mp.setenv("AGENTEVO_OS_TASKS", str(copy))
    os_suite.templates.cache_clear()
    yield copy, {t.id: t for t in get_suite("os").tasks("all")}
    mp.undo()
    os_suite.templates.cache_clear()


def config() -> RunConfig:
    return RunConfig.model_validate(
        {
            "sandbox": {"backend": BACKEND, "timeout_s": 20},
            "limits": {"max_steps": 3},
            "environment": {"suite": "os"},
            "archive": {"enabled": True, "options": {"embedder": "hash"}},
        }
    )


def reference_model(tasks):
    replies = []
    for task in tasks:
        answer = os_suite.reference_answer(task, open_sandbox(BACKEND, Limits(timeout_s=20)))
        replies += os_suite.reference_replies(task, answer)
    return ScriptedModel(replies)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, os_tasks):
    _copy, tasks = os_tasks
    ws = tmp_path_factory.mktemp("os-tools")
    sources = [tasks[i] for i in SOURCES]
    summary, _ = run_with_learners(config(), ws, reference_model(sources), get_suite("os"), sources)
    assert summary.successes == 2
    return ws


def archive_of(ws) -> FileToolArchive:
    return FileToolArchive.for_workspace(ws, settings_for(config()))


def test_each_success_becomes_a_parameterised_script(workspace):
    archive = archive_of(workspace)
    assert archive.state() == {"count_matching_lines": 1, "make_private": 1}
    count = archive.get("count_matching_lines")
    assert count.parameters["properties"] == {"level": {"type": "string"}, "path": {"type": "string"}}
    assert "shlex.quote(level)" in count.source and "Its output is the answer." in count.description
    assert archive.replays("count_matching_lines", 1)[0].finish == "answer-output"
    assert archive.replays("make_private", 1)[0].finish == "finish"


def tool_sandbox():
    return open_sandbox(BACKEND, Limits(timeout_s=10))


def solve_with(tool, args, task):
    """Reset a fresh environment for `task`, run the tool in it, end the episode as its description says."""
    env = get_suite("os").make_env(EnvContext(config=config(), workspace=Path("."), run_dir=Path(".")))
    try:
        env.reset(task)
        done = ToolExecutor(tool_sandbox).perform(tool, args, env)
        assert done.ok, done.error
        ending = Action(name="answer", args={"answer": done.observation.text.strip()})
        if "Finish" in tool.description:
            ending = Action(name="finish")
        return env.step(ending).reward, done.observation.text
    finally:
        env.close()


def test_the_shell_tool_solves_a_new_instance_with_new_arguments(workspace, os_tasks):
    _copy, tasks = os_tasks
    archive = archive_of(workspace)
    new = tasks["count-matching-lines-2"]  # another log, another level
    assert "WARN" in new.instruction
    reward, output = solve_with(
        archive.get("count_matching_lines"), {"level": "WARN", "path": "/work/logs/app.log"}, new
    )
    assert reward == 1.0 and output.strip().isdigit()
    wrong, _ = solve_with(
        archive.get("count_matching_lines"), {"level": "DEBUG", "path": "/work/logs/app.log"}, new
    )
    assert wrong == 0.0
    private = tasks["make-private-3"]
    reward, _ = solve_with(archive.get("make_private"), {"path": "/work/secrets/passwords.db"}, private)
    assert reward == 1.0


def test_an_argument_cannot_break_out_of_its_word(workspace):
    archive = archive_of(workspace)
    script = ToolExecutor(tool_sandbox).evaluate(
        archive.get("make_private"), {"path": "/work/x; touch /work/pwned"}
    )
    assert script.ok and script.value == "chmod 600 '/work/x; touch /work/pwned'"


def test_a_replay_passes_only_on_a_success_and_a_judge_decides_in_label_free_runs(workspace):
    from agentevo.tools.replay import SuiteEnvs, replay

    archive = archive_of(workspace)
    tool, spec = archive.get("count_matching_lines"), archive.replays("count_matching_lines", 1)[0]
    envs, executor = SuiteEnvs(workspace, config()), ToolExecutor(tool_sandbox)
    try:
        assert replay(tool, spec, envs, executor).ok
        # a judged success is stored with reward 0: a failing replay must not pass by matching it
        wrong = spec.model_copy(update={"args": {**spec.args, "level": "NOPE"}, "reward": 0.0})
        assert not replay(tool, wrong, envs, executor).ok
        seen = []
        verdict = replay(tool, wrong, envs, executor, judge=lambda traj: seen.append(traj) or True)
        assert verdict.ok and len(seen) == 1 and "judge" in verdict.detail
        assert not replay(tool, spec, envs, executor, judge=lambda traj: False).ok
    finally:
        envs.close()
        archive.close()


def test_verify_retires_a_shell_tool_whose_task_changed(workspace, os_tasks):
    copy, _tasks = os_tasks
    archive = archive_of(workspace)
    assert all(v.ok for v in lifecycle.verify(archive).verdicts)
    template = copy / "templates" / "make-private.yaml"
    template.write_text(template.read_text().replace("= 600", "= 400"))  # now owner read-only is wanted
    os_suite.templates.cache_clear()
    report = lifecycle.verify(archive)
    archive.close()
    verdicts = {v.name: v for v in report.verdicts}
    assert verdicts["count_matching_lines"].ok
    assert (verdicts["make_private"].ok, verdicts["make_private"].action) == (False, "retired")
    assert verdicts["make_private"].detail.startswith("replay-failed: make-private-1: reward 0")
    assert archive.state() == {"count_matching_lines": 1}


LLM_TOOL = '''NAME: count_level_lines
KIND: os
ARGS: {"level": "ERROR", "path": "/work/logs/app.log"}
```python tool.py
import shlex


def count_level_lines(level: str, path: str) -> str:
    """Print how many lines of a log file have the given level."""
    return "grep -c " + shlex.quote(" " + level + " ") + " " + shlex.quote(path)
```
```python test_tool.py
from tool import count_level_lines


def test_script():
    assert count_level_lines("WARN", "/work/a b.log") == "grep -c ' WARN ' '/work/a b.log'"
```'''


def test_an_llm_proposed_shell_tool_is_replayed_before_it_is_registered(workspace):
    from agentevo.tools.synth import LLMSynthesiser

    source = next(
        t
        for t in TrajectoryStore.for_workspace(workspace).trajectories()
        if t.task.id == "count-matching-lines-1"
    )
    archive = archive_of(workspace)
    tool = LLMSynthesiser(ScriptedModel([LLM_TOOL]), archive).synthesise([source])
    archive.close()
    assert tool is not None and tool.name == "count_level_lines"
    replay = archive.replays("count_level_lines", 1)[0]
    assert (replay.finish, replay.args) == ("answer-output", {"level": "ERROR", "path": "/work/logs/app.log"})
