"""One learner per ablation condition: its own memory store and tool archive in its own folder.

    none            nothing is learned; episodes see only the task
    memory          experience memory (reflect → curate → commit), recalled as demonstrations and notes
    tools           the tool archive (compile → gate → register), offered as extra actions
    memory+tools    both

Training episodes are shown what the learner holds and feed it afterwards; validation and test evaluations
see a frozen learner (no usage counts, no call statistics, nothing learned). `marker()` names the learner's
state (the memory head and the active tool versions) and `restore(marker)` brings it back — what the gate
does when a change makes validation results worse.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.agent.graph import NoRecall
from agentevo.agent.recall import CombinedRecall
from agentevo.config import RunConfig
from agentevo.errors import ConfigError
from agentevo.protocols import Model, Recaller
from agentevo.records import Trajectory

log = logging.getLogger(__name__)

CONDITIONS = ("none", "memory", "tools", "memory+tools")


def parse_conditions(text: str | Sequence[str]) -> list[str]:
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or not names:
        raise ConfigError(
            f"--ablate: unknown condition {unknown[0]!r}; use " + ", ".join(CONDITIONS)
            if unknown
            else "--ablate: name at least one condition"
        )
    if "none" not in names:
        names.insert(0, "none")  # the baseline every difference is paired against
    return list(dict.fromkeys(names))


@dataclass
class ConditionLearner:
    name: str
    folder: Path
    config: RunConfig
    model: Model
    replay_judge: Any = None  # label-free runs: the judge decides whether a tool's replay succeeded
    memory: Any = None  # ExperienceStore
    archive: Any = None  # FileToolArchive
    _memory_learner: Any = None
    _tool_learner: Any = None
    registered: list[str] = field(default_factory=list)

    @property
    def uses_memory(self) -> bool:
        return "memory" in self.name

    @property
    def uses_tools(self) -> bool:
        return "tools" in self.name

    @property
    def learns(self) -> bool:
        return self.uses_memory or self.uses_tools

    def open(self) -> ConditionLearner:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.uses_memory:
            self.open_memory()
        if self.uses_tools:
            self.open_tools()
        return self

    def open_memory(self) -> None:
        from agentevo.memory.curator import Curator
        from agentevo.memory.learner import MemoryLearner, make_reflector
        from agentevo.memory.store import ExperienceStore

        opts = self.config.memory.options
        self.memory = ExperienceStore.for_workspace(
            self.folder, url=opts.get("url"), embedder=opts.get("embedder"), mode="write"
        )
        curator = Curator(
            self.memory,
            merge_threshold=float(opts.get("merge_threshold", 0.9)),
            decay_after=int(opts.get("decay_after", 5)),
            decay_below=float(opts.get("decay_below", 0.2)),
            max_pitfalls=int(opts.get("max_pitfalls", 3)),
        )
        self._curator = curator
        self._memory_learner = MemoryLearner(self.memory, make_reflector(self.config, self.model), curator)

    def open_tools(self) -> None:
        from agentevo.tools.archive import FileToolArchive
        from agentevo.tools.learn import ToolLearner
        from agentevo.tools.replay import SuiteEnvs
        from agentevo.tools.wiring import llm_synthesiser, settings_for

        settings = settings_for(self.config)
        self.archive = FileToolArchive.for_workspace(
            self.folder, settings, envs=SuiteEnvs(self.folder, self.config), replay_judge=self.replay_judge
        )
        synthesiser = llm_synthesiser(self.archive, settings, self.model)
        self._tool_learner = ToolLearner(
            self.archive, compiler=settings.synthesiser in ("compiler", "both"), synthesiser=synthesiser
        )

    # --- what episodes are shown ----------------------------------------------------------------------
    def recaller(self, *, frozen: bool) -> Recaller:
        parts: list[Recaller] = []
        if self.memory is not None:
            from agentevo.memory.recall import MemoryRecall

            opts = self.config.memory.options
            parts.append(
                MemoryRecall(
                    self.memory,
                    k=self.config.memory.k,
                    token_budget=self.config.memory.token_budget,
                    min_similarity=float(opts.get("min_similarity", 0.55)),
                    record_usage=False,
                    curator=None if frozen else self._curator,
                )
            )
        if self.archive is not None:
            from agentevo.tools.recall import ToolRecall

            parts.append(ToolRecall(self.archive, k=self.config.archive.k, record=not frozen))
        if not parts:
            return NoRecall()
        return parts[0] if len(parts) == 1 else CombinedRecall(parts)

    # --- learning ---------------------------------------------------------------------------------------
    def learn(self, trajectory: Trajectory) -> None:
        """Feed one (labelled) training trajectory to memory and tools; never raises."""
        if self._memory_learner is not None:
            self._memory_learner.on_trajectory(trajectory)
        if self._tool_learner is not None:
            before = len(self._tool_learner.registered)
            self._tool_learner(trajectory)
            self.registered += [f"{t.name}@v{t.version}" for t in self._tool_learner.registered[before:]]

    # --- the gate -----------------------------------------------------------------------------------------
    def marker(self) -> dict[str, Any]:
        return {
            "memory": self.memory.head_id() if self.memory is not None else "",
            "tools": self.archive.state() if self.archive is not None else {},
        }

    def changes_since(self, marker: dict[str, Any]) -> str:
        now = self.marker()
        parts = []
        if self.memory is not None and now["memory"] != marker["memory"]:
            parts.append(f"memory {marker['memory'][:8] or 'empty'} → {now['memory'][:8]}")
        if self.archive is not None:
            new = sorted(f"{n}@v{v}" for n, v in now["tools"].items() if marker["tools"].get(n) != v)
            gone = sorted(n for n in marker["tools"] if n not in now["tools"])
            if new:
                parts.append("tools " + ", ".join(new))
            if gone:
                parts.append("retired " + ", ".join(gone))
        return "; ".join(parts) or "no change"

    def restore(self, marker: dict[str, Any], reason: str) -> None:
        if self.memory is not None and self.memory.head_id() != marker["memory"]:
            if marker["memory"]:
                self.memory.rollback(marker["memory"], source_run=reason)
            else:
                self.clear_memory(reason)
        if self.archive is not None:
            self.archive.restore_state(marker["tools"], reason)

    def clear_memory(self, reason: str) -> None:
        """Back to an empty memory (the state before the first commit), as one more commit."""
        for item in self.memory.items():
            self.memory.delete(item.id)
        self.memory.commit(f"rollback to empty: {reason}", source="gate")

    # --- what was learned ----------------------------------------------------------------------------------
    def learned(self, limit: int = 12) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if self.memory is not None:
            items = sorted(self.memory.items(), key=lambda e: (-e.stats.helped, -e.stats.retrieved))
            rows += [
                {
                    "kind": e.kind,
                    "title": e.title,
                    "retrieved": e.stats.retrieved,
                    "helped": e.stats.helped,
                    "hurt": e.stats.hurt,
                    "content": e.content[:600],
                }
                for e in items[:limit]
            ]
        if self.archive is not None:
            for tool in self.archive.tools(status="active")[:limit]:
                s = tool.stats
                rows.append(
                    {
                        "kind": f"tool ({tool.kind})",
                        "title": f"{tool.name}@v{tool.version}",
                        "retrieved": s.calls,
                        "helped": s.ok,
                        "hurt": s.failed,
                        "content": tool.description,
                    }
                )
        return rows

    def close(self) -> None:
        if self.archive is not None:
            self.archive.release_envs()
        if self.memory is not None:
            self.memory.close()
