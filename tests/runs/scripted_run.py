"""A run driven by a slow scripted model, started as its own process so a test can SIGKILL it.

usage: python scripted_run.py WORKSPACE RUN_ID [--resume]
"""

import sys
import time
from pathlib import Path

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel

TASKS = 6


def reply(messages, tools):
    time.sleep(0.4)
    task = next(t for t in get_suite("humaneval").tasks("all") if t.instruction == messages_task(messages))
    wrong = "```python\ndef f():\n    return None\n```"
    attempts = sum(m["role"] == "assistant" for m in messages) - 1  # minus the built-in demonstration
    return wrong if attempts == 0 else f"```python\n{task.meta['prompt']}{task.meta['reference']}```"


def messages_task(messages):
    return next(m["content"] for m in messages[3:] if m["role"] == "user")


def main() -> None:
    workspace, run_id = Path(sys.argv[1]), sys.argv[2]
    cfg = RunConfig.model_validate(
        {"sandbox": {"backend": "local"}, "limits": {"max_steps": 3}, "run": {"concurrency": 2}}
    )
    suite = get_suite("humaneval")
    tasks = suite.tasks("test")[:TASKS]
    store = TrajectoryStore.for_workspace(workspace)
    runner = Runner(
        config=cfg,
        workspace=workspace,
        store=store,
        model=FunctionModel(reply),
        suite=suite,
        show_progress=False,
    )
    manifest = store.manifest(run_id) if "--resume" in sys.argv else runner.start(tasks, run_id=run_id)
    summary = runner.execute(manifest, tasks)
    print(summary.episodes, summary.successes)


if __name__ == "__main__":
    main()
