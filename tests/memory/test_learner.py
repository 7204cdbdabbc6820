"""Memory in runs: the Runner retrieves before each episode and learns after it, one commit per episode."""

import re
import subprocess
import sys

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.memory.learner import MemoryLearner
from agentevo.memory.store import ExperienceStore
from agentevo.runs.build import build_runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel
from tests.helpers import run_with_learners, solution

TASKS = get_suite("humaneval").tasks("test")[:4]


def solver(messages, tools):
    """Solves the even-numbered problems; seeing a demonstration for a task does not change that."""
    task = next(t for t in TASKS if t.instruction in messages[-1]["content"])
    return solution(task) if int(task.id.split("/")[1]) % 2 == 0 else "```python\ndef nope():\n    pass\n```"


def config(**memory):
    return RunConfig.model_validate(
        {
            "sandbox": {"backend": "local"},
            "limits": {"max_steps": 1},
            "run": {"concurrency": 2},
            "memory": {"enabled": True, "options": {"embedder": "hash:64"}, **memory},
        }
    )


def run(workspace, cfg, model=None, tasks=TASKS):
    summary, runner = run_with_learners(cfg, workspace, model or FunctionModel(solver), SUITE, tasks)
    return runner.store.manifest(summary.run_id), runner


SUITE = get_suite("humaneval")


def test_a_run_with_memory_learns_from_every_episode_with_provenance_and_one_commit_each(workspace):
    cfg = config()
    manifest, runner = run(workspace, cfg)
    assert manifest.memory_commit is None  # the memory was empty when the run began
    episodes = {e.id for e in runner.store.episodes(manifest.run_id)}
    with ExperienceStore.for_workspace(workspace, mode="read") as store:
        items = store.items()
        commits = store.log()
    assert len(items) == 4 and len(commits) == 4
    assert all(c.source_run == manifest.run_id for c in commits)
    assert all(
        set(i.provenance.trajectory_ids) <= episodes and i.provenance.run_id == manifest.run_id for i in items
    )
    kinds = {i.scope.template: i.kind for i in items}
    assert kinds == {t.id: ("workflow" if int(t.id.split("/")[1]) % 2 == 0 else "pitfall") for t in TASKS}

    model = FunctionModel(solver)
    manifest2, _ = run(workspace, cfg, model)
    assert manifest2.memory_commit == commits[0].id
    shown = [c.messages for c in model.calls]
    assert sum(any("Hint from past experience" in m["content"] for m in msgs) for msgs in shown) >= 2
    with ExperienceStore.for_workspace(workspace, mode="read") as store:
        assert sum(i.stats.retrieved for i in store.items()) >= 4
        assert len(store.items()) == 4  # the second run's experience merged into the first's


def test_a_broken_reflector_never_ends_the_run(workspace):
    class Broken:
        def reflect(self, trajectory, known=()):
            raise RuntimeError("reflector bug")

    cfg = config()
    model = FunctionModel(solver)
    with ExperienceStore.for_workspace(workspace, embedder="hash:64") as store:
        working = MemoryLearner.for_config(cfg, store, model)
        broken = MemoryLearner(store, Broken(), working.curator, working.retrieval)
        trajectories = TrajectoryStore.for_workspace(workspace)
        runner = build_runner(
            cfg, SUITE, workspace, model=model, store=trajectories, learners=[broken], show_progress=False
        )
        summary = runner.execute(runner.start(TASKS), TASKS)
        assert summary.episodes == 4 and broken.failures == 4


def test_memory_off_leaves_no_memory_store(workspace):
    cfg = config(enabled=False)
    manifest, _ = run(workspace, cfg, tasks=TASKS[:1])
    assert manifest.memory_commit is None and not (workspace / "memory_store").exists()


def test_the_memory_flag_takes_on_or_off(workspace):
    result = subprocess.run(
        [sys.executable, "-m", "agentevo.cli", "run", "--memory", "maybe", "-w", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and re.search(r"error:.*--memory takes on or off", result.stderr)
    assert list(workspace.iterdir()) == []
