"""Building a run: which tasks, which learners, one runner — used by `agentevo run`, `agentevo evolve` and
`agentevo train eval` alike, so every way of running episodes is wired the same way."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentevo.benchmarks import Suite
from agentevo.config import RunConfig
from agentevo.errors import ConfigError, SuiteError
from agentevo.protocols import Learner, Model
from agentevo.records import Task
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore


def ensure_writable(workspace: Path) -> None:
    """Fail before anything is written when the workspace cannot take a run."""
    probe_dir = workspace / "runs" if (workspace / "runs").exists() else workspace
    if not workspace.exists():
        probe_dir = next((p for p in workspace.parents if p.exists()), Path("/"))
    probe = probe_dir / f".agentevo-write-test-{os.getpid()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"workspace {workspace} is not writable ({exc.strerror})") from None


def select_tasks(suite: Suite, cfg: RunConfig) -> list[Task]:
    """The tasks a run file names: its split, the listed ids, shuffled by the run seed, cut to the limit."""
    env = cfg.environment
    tasks = suite.tasks(env.split)
    if env.task_ids:
        wanted = set(env.task_ids)
        unknown = wanted - {t.id for t in tasks}
        if unknown:
            raise SuiteError(f"no task {sorted(unknown)[0]!r} in {suite.name}/{env.split}")
        tasks = [t for t in tasks if t.id in wanted]
    if cfg.run.shuffle:
        random.Random(cfg.run.seed).shuffle(tasks)
    if env.limit is not None:
        tasks = tasks[: env.limit]
    if not tasks:
        raise SuiteError(f"suite {suite.name} has no tasks in split {env.split!r}")
    return tasks


@contextlib.contextmanager
def run_learners(
    cfg: RunConfig, workspace: Path, model: Model
) -> Iterator[tuple[list[Learner], dict[str, Any]]]:
    """The learners a run file turns on (`memory.enabled`, `archive.enabled`), opened on the workspace and
    closed after the run, with the manifest fields that pin the state they started from."""
    from agentevo.memory.learner import MemoryLearner, open_memory
    from agentevo.tools.learner import ToolLearner
    from agentevo.tools.wiring import open_run_archive

    learners: list[Learner] = []
    pins: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if cfg.memory.enabled:
            store = open_memory(cfg, workspace)
            stack.callback(store.close)
            learners.append(MemoryLearner.for_config(cfg, store, model))
            pins["memory_commit"] = store.head_id() or None
        if cfg.archive.enabled:
            archive = open_run_archive(cfg, workspace)
            stack.callback(archive.close)
            learners.append(ToolLearner.for_config(cfg, archive, model))
            pins["archive_state"] = archive.state()
        yield learners, pins


def build_runner(
    cfg: RunConfig,
    suite: Suite,
    workspace: Path,
    *,
    model: Model,
    store: TrajectoryStore,
    learners: Sequence[Learner] = (),
    show_progress: bool = True,
) -> Runner:
    return Runner(
        config=cfg,
        workspace=workspace,
        store=store,
        model=model,
        suite=suite,
        learners=list(learners),
        show_progress=show_progress,
    )
