"""A workspace with two HumanEval runs made through the real Runner, sandbox and store by function models:
every task has a success in one run and a failure in the other; the second run recalls experience (a
demonstration, a note) and offers a tool that the model calls on its first step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.envs.sandbox.bwrap import available
from agentevo.protocols import Change, Recollection
from agentevo.records import Observation, Task, ToolSpec
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel
from tests.helpers import solution

TASKS = 10
RECALLED_DEMO = ("Solve: multiply two numbers", "```python\ndef mul(a, b):\n    return a * b\n```")
NOTE = "Read the docstring examples before writing code."
TOOL = ToolSpec(
    name="show_tests",
    description="Shows the tests the solution must pass.",
    parameters={"type": "object", "properties": {"lines": {"type": "integer"}}},
)
WRONG = "```python\ndef nope():\n    return None\n```"


@dataclass
class Runs:
    workspace: Path
    store: TrajectoryStore
    tasks: list[Task]
    plain: str  # run id without memory: even tasks solved
    plain_odd: str  # run id without memory: odd tasks solved
    recalled: str  # run id with memory and a tool: odd tasks solved

    def task_by_message(self, text: str) -> Task | None:
        return find(self.tasks, text)


class Recall:
    name = "recall"

    def recall(self, task: Task, observation: Observation) -> Recollection:
        def show_tests(action, env):
            return Observation(text=task.meta["tests"][:200])

        return Recollection(
            demonstrations=[RECALLED_DEMO],
            notes=[NOTE],
            tools=[TOOL],
            handlers={TOOL.name: show_tests},
            retrieved=["mem-1", "tool:show_tests"],
        )

    def learn(self, trajectory) -> Change:
        return Change(self.name)


def task_index(task: Task) -> int:
    return int(task.id.split("/")[1])


def agent(tasks: list[Task], solves_even: bool, calls_tool: bool) -> FunctionModel:
    """Solves half the tasks (every third after a wrong first try); the other half fail to the step limit."""

    def reply(messages, tools):
        at = next(i for i, m in enumerate(messages) if m["role"] == "user" and find(tasks, m["content"]))
        task = find(tasks, messages[at]["content"])
        turn = sum(m["role"] == "assistant" for m in messages[at:])
        if calls_tool and turn == 0:
            return 'call show_tests {"lines": 5}'
        solves = (task_index(task) % 2 == 0) == solves_even
        wrong_first = task_index(task) % 3 == 0 and turn == int(calls_tool)
        if solves and not wrong_first:
            return "Here is my solution.\n" + solution(task)
        return WRONG.replace("nope", f"nope{turn}")

    return FunctionModel(reply)


def find(tasks: list[Task], text: str) -> Task | None:
    return next((t for t in tasks if t.instruction in text), None)


def make_run(workspace: Path, store: TrajectoryStore, tasks: list[Task], model, learner=None) -> str:
    backend = "bwrap" if available() else "local"
    cfg = RunConfig.model_validate(
        {"sandbox": {"backend": backend}, "limits": {"max_steps": 3}, "run": {"concurrency": 2}}
    )
    runner = Runner(
        config=cfg,
        workspace=workspace,
        store=store,
        model=model,
        suite=get_suite("humaneval"),
        show_progress=False,
        learners=[learner] if learner else [],
    )
    manifest = runner.start(tasks)
    runner.execute(manifest, tasks)
    return manifest.run_id


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Runs:
    workspace = tmp_path_factory.mktemp("train-ws")
    store = TrajectoryStore.for_workspace(workspace)
    tasks = get_suite("humaneval").tasks("all")[:TASKS]
    plain = make_run(workspace, store, tasks, agent(tasks, solves_even=True, calls_tool=False))
    plain_odd = make_run(workspace, store, tasks, agent(tasks, solves_even=False, calls_tool=False))
    recalled = make_run(workspace, store, tasks, agent(tasks, solves_even=False, calls_tool=True), Recall())
    return Runs(workspace, store, tasks, plain, plain_odd, recalled)
