"""Small builders shared by tests."""

from __future__ import annotations

from agentevo.agent.graph import Episode
from agentevo.benchmarks import get_suite
from agentevo.config import LimitsConfig
from agentevo.envs.code import CodeEnvironment
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.envs.sandbox.bwrap import available
from agentevo.records import Task


def humaneval_task(task_id: str) -> Task:
    return next(t for t in get_suite("humaneval").tasks("all") if t.id == task_id)


def solution(task: Task) -> str:
    """The canonical solution as a model would write it: the whole function in a python block."""
    return f"```python\n{task.meta['prompt']}{task.meta['reference']}```"


def code_env(timeout_s: float = 3.0) -> CodeEnvironment:
    backend = "bwrap" if available() else "local"
    return CodeEnvironment(lambda: open_sandbox(backend, Limits(timeout_s=timeout_s)), timeout_s=timeout_s)


def episode(env, model, **limits) -> Episode:
    return Episode(env=env, model=model, limits=LimitsConfig(**limits))


def run_with_learners(cfg, workspace, model, suite, tasks):
    """A run the way `agentevo run` makes one: the learners its run file turns on, open around it."""
    from agentevo.runs.build import build_runner, run_learners
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace)
    with run_learners(cfg, workspace, model) as (learners, pins):
        runner = build_runner(
            cfg, suite, workspace, model=model, store=store, learners=learners, show_progress=False
        )
        summary = runner.execute(runner.start(tasks, extra=pins or None), tasks)
    return summary, runner
