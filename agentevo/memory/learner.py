"""Memory in a run: retrieval before each episode, learning after it (`agentevo run --memory on`).

    before an episode   MemoryRecall shows the task what the workspace memory holds for it
    after an episode    (Runner.on_trajectory) reflect → curate → commit: the usage of what the episode
                        was shown and the experience it yields, as one commit naming the run and episode

Episodes run in threads: reflection (possibly an LLM call) runs in the episode's thread, while curating and
committing take one lock, so memory writes are serialised. A memory failure is logged and never ends the
run: the trajectory is already stored, and `agentevo memory` can be repaired separately.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.agent.graph import NoRecall
from agentevo.agent.recall import CombinedRecall
from agentevo.config import RunConfig
from agentevo.memory.curator import Curator
from agentevo.memory.recall import MemoryRecall
from agentevo.memory.reflect import CombinedReflector, WorkflowReflector
from agentevo.memory.store import CommitInfo, ExperienceStore
from agentevo.protocols import Model, Reflector
from agentevo.records import Trajectory

log = logging.getLogger(__name__)


@dataclass
class MemoryLearner:
    """Runner.on_trajectory: reflect, curate and commit each stored trajectory."""

    store: ExperienceStore
    reflector: Reflector
    curator: Curator
    commits: list[CommitInfo] = field(default_factory=list)
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, trajectory: Trajectory) -> None:
        self.on_trajectory(trajectory)

    def on_trajectory(self, trajectory: Trajectory) -> None:
        try:
            items = self.reflector.reflect(trajectory)
            with self._lock:
                info = self.curator.curate(trajectory, items)
                if info is not None:
                    self.commits.append(info)
        except Exception:  # learning must never end the run whose trajectory it learns from
            self.failures += 1
            log.exception("memory could not learn from %s", trajectory.id)


def make_reflector(cfg: RunConfig, run_model: Model) -> Reflector:
    kind = cfg.reflector.kind
    if kind == "workflow":
        return WorkflowReflector()
    from agentevo.memory.llm_reflector import LLMReflector

    model = run_model
    if cfg.reflector.model:
        from agentevo.models import load_model

        model = load_model(cfg.reflector.model)
    llm = LLMReflector(model, **{k: v for k, v in cfg.reflector.options.items() if k == "max_tokens"})
    return llm if kind == "llm" else CombinedReflector([WorkflowReflector(), llm])


def open_memory(cfg: RunConfig, workspace: Path) -> ExperienceStore:
    opts = cfg.memory.options
    return ExperienceStore.for_workspace(
        workspace,
        url=opts.get("url"),
        embedder=opts.get("embedder"),
        mode="write",
        lock_timeout_s=float(opts.get("lock_timeout_s", 10.0)),
    )


def attach(runner: Any, cfg: RunConfig, store: ExperienceStore) -> MemoryLearner:
    """Give a Runner retrieval (its recaller) and learning (its on_trajectory)."""
    opts = cfg.memory.options
    curator = Curator(
        store,
        merge_threshold=float(opts.get("merge_threshold", 0.9)),
        decay_after=int(opts.get("decay_after", 5)),
        decay_below=float(opts.get("decay_below", 0.2)),
        max_pitfalls=int(opts.get("max_pitfalls", 3)),
    )
    recall = MemoryRecall(
        store,
        k=cfg.memory.k,
        token_budget=cfg.memory.token_budget,
        min_similarity=float(opts.get("min_similarity", 0.55)),
        record_usage=False,  # the learner counts usage in the episode's commit
        curator=curator,
    )
    learner = MemoryLearner(store, make_reflector(cfg, runner.model), curator)
    runner.recaller = (
        recall if isinstance(runner.recaller, NoRecall) else CombinedRecall([recall, runner.recaller])
    )
    runner.on_trajectory = learner if runner.on_trajectory is None else chain(runner.on_trajectory, learner)
    return learner


def chain(*callbacks: Callable[[Trajectory], None]) -> Callable[[Trajectory], None]:
    def each(trajectory: Trajectory) -> None:
        for cb in callbacks:
            cb(trajectory)

    return each


@contextlib.contextmanager
def memory_session(runner: Any, cfg: RunConfig, workspace: Path) -> Iterator[dict[str, Any]]:
    """For `agentevo run`: when memory is on, attach it for the run and close it after; yields the
    manifest fields that pin the memory the run started from."""
    if not cfg.memory.enabled:
        yield {}
        return
    store = open_memory(cfg, workspace)
    try:
        attach(runner, cfg, store)
        yield {"memory_commit": store.head_id() or None}
    finally:
        store.close()
