"""The memory as a learner (`agentevo run --memory on`, the memory conditions of `agentevo evolve`).

    recall   MemoryRecall shows the task what the memory holds for it (demonstrations, notes)
    learn    reflect → curate → commit: the usage of what the episode was shown and the experience it
             yields, as one commit naming the run and episode

Episodes run in threads: reflection (possibly an LLM call) runs in the episode's thread, while curating and
committing take one lock, so memory writes are serialised. A memory failure is logged and never ends the
run: the trajectory is already stored, and `agentevo memory` can be repaired separately. A frozen learner
(held-out evaluations) recalls and learns nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agentevo.config import RunConfig
from agentevo.memory.changes import CommitInfo
from agentevo.memory.curator import Curator
from agentevo.memory.recall import MemoryRecall
from agentevo.memory.reflect import CombinedReflector, WorkflowReflector
from agentevo.memory.store import ExperienceStore
from agentevo.protocols import Change, Model, Recollection, Reflector
from agentevo.records import Observation, Task, Trajectory

log = logging.getLogger(__name__)


@dataclass
class MemoryLearner:
    store: ExperienceStore
    reflector: Reflector
    curator: Curator
    retrieval: MemoryRecall
    frozen: bool = False
    name: str = "memory"
    commits: list[CommitInfo] = field(default_factory=list)
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_config(
        cls, cfg: RunConfig, store: ExperienceStore, model: Model, *, frozen: bool = False
    ) -> MemoryLearner:
        """The learner a run file describes (`memory.*`, `reflector.*`) over an open store."""
        opts = cfg.memory.options
        curator = Curator(
            store,
            merge_threshold=float(opts.get("merge_threshold", 0.9)),
            decay_after=int(opts.get("decay_after", 5)),
            decay_below=float(opts.get("decay_below", 0.2)),
            max_pitfalls=int(opts.get("max_pitfalls", 3)),
        )
        retrieval = MemoryRecall(
            store,
            k=cfg.memory.k,
            token_budget=cfg.memory.token_budget,
            min_similarity=float(opts.get("min_similarity", 0.55)),
        )
        return cls(store, make_reflector(cfg, model), curator, retrieval, frozen=frozen)

    def recall(self, task: Task, observation: Observation) -> Recollection:
        return self.retrieval.recall(task, observation)

    def learn(self, trajectory: Trajectory) -> Change:
        if self.frozen:
            return Change(self.name)
        try:
            items = self.reflector.reflect(trajectory)
            with self._lock:
                info = self.curator.curate(trajectory, items)
        except Exception:  # learning must never end the run whose trajectory it learns from
            self.failures += 1
            log.exception("memory could not learn from %s", trajectory.id)
            return Change(self.name)
        if info is None:
            return Change(self.name)
        self.commits.append(info)
        return Change(self.name, info.message, (info.id,))


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
