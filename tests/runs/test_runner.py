import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentevo.benchmarks import Suite, get_suite
from agentevo.config import RunConfig
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel
from tests.helpers import solution

ROOT = Path(__file__).resolve().parents[2]


def solver(tasks):
    by_instruction = {t.instruction: t for t in tasks}

    def reply(messages, tools):
        task = by_instruction[messages[-1]["content"]]
        return (
            solution(task) if int(task.id.split("/")[1]) % 2 == 0 else "```python\ndef nope():\n  pass\n```"
        )

    return FunctionModel(reply)


def make_runner(workspace, model, suite=None, **cfg):
    config = RunConfig.model_validate({"sandbox": {"backend": "local"}, "limits": {"max_steps": 1}, **cfg})
    return Runner(
        config=config,
        workspace=workspace,
        store=TrajectoryStore.for_workspace(workspace),
        model=model,
        suite=suite or get_suite("humaneval"),
        show_progress=False,
    )


def test_a_run_stores_every_step_and_summarises(workspace):
    tasks = get_suite("humaneval").tasks("test")[:6]
    runner = make_runner(workspace, solver(tasks), run={"concurrency": 3})
    manifest = runner.start(tasks)
    summary = runner.execute(manifest, tasks)
    even = sum(int(t.id.split("/")[1]) % 2 == 0 for t in tasks)
    assert (summary.episodes, summary.successes, summary.status) == (6, even, "done")
    lo, hi = summary.ci95
    assert lo <= summary.success_rate <= hi
    store = runner.store
    for row in store.episodes(manifest.run_id):
        assert len(store.steps(row.id)) == 1
        assert store.trajectory(row.id).task.id == row.task_id
    assert (workspace / "runs" / manifest.run_id / "manifest.json").exists()
    assert store.manifest(manifest.run_id).packages["langgraph"]


def test_one_failing_episode_does_not_end_the_run(workspace):
    humaneval = get_suite("humaneval")
    tasks = humaneval.tasks("test")[:3]

    def make_env(ctx):
        env = humaneval.make_env(ctx)
        real_step = env.step

        def step(action):
            if env.task.id == tasks[1].id:
                raise RuntimeError("environment exploded")
            return real_step(action)

        env.step = step
        return env

    suite = Suite(name="humaneval", kind="code", description="", load=humaneval.load, make_env=make_env)
    runner = make_runner(workspace, solver(tasks), suite=suite)
    summary = runner.execute(runner.start(tasks), tasks)
    assert summary.episodes == 3 and summary.outcomes.get("error") == 1
    broken = next(t for t in summary.tasks if t["outcome"] == "error")
    assert broken["task_id"] == tasks[1].id
    assert "environment exploded" in runner.store.trajectory(broken["episode_id"]).error


def test_a_sigkilled_run_resumes_with_no_episode_lost_or_duplicated(workspace):
    script = ROOT / "tests" / "runs" / "scripted_run.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(workspace), "killed-run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    store = TrajectoryStore.for_workspace(workspace)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            done = store.done_keys("killed-run")
        except Exception:  # the store may not exist yet
            continue
        if len(done) >= 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(store.done_keys("killed-run"))
    assert 2 <= killed_at < 6, "the kill should land mid-run"
    resumed = subprocess.run(
        [sys.executable, str(script), str(workspace), "killed-run", "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = store.episodes("killed-run")
    assert sorted(r.task_id for r in rows) == sorted({r.task_id for r in rows}) and len(rows) == 6
    assert all(r.status == "done" and r.outcome == "success" for r in rows)
    for row in rows:
        steps = store.steps(row.id)
        assert [s.index for s in steps] == list(range(len(steps))) == [0, 1]


def test_ctrl_c_leaves_a_resumable_run(workspace):
    tasks = get_suite("humaneval").tasks("test")[:4]
    model = solver(tasks)
    runner = make_runner(workspace, model)
    manifest = runner.start(tasks)
    real = model.fn
    calls = []

    def interrupting(messages, tools):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(messages, tools)

    model.fn = interrupting
    summary = runner.execute(manifest, tasks)
    assert summary.status == "interrupted" and summary.episodes < 4
    model.fn = real
    again = make_runner(workspace, model).execute(manifest, tasks)
    assert again.status == "done" and again.episodes == 4


def test_unknown_split_is_a_suite_error():
    from agentevo.errors import SuiteError

    with pytest.raises(SuiteError):
        get_suite("humaneval").tasks("not-a-real-split")
