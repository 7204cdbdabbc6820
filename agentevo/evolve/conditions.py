"""One training run of an ablation condition: its own memory store and tool archive in its own folder, and
the learners (agentevo.protocols.Learner) its episodes get.

    none            nothing is learned; episodes see only the task
    memory          experience memory (reflect → curate → commit), recalled as demonstrations and notes
    tools           the tool archive (compile → gate → register), offered as extra actions
    memory+tools    both
    lora            distillation into weights: each round's successful training episodes train a LoRA
                    adapter of the embedded model (evolve.distil); the condition's episodes run on it
    memory+tools+lora   all three

Training episodes are shown what the learner holds and feed it afterwards; validation and test evaluations
see a frozen learner (no usage counts, no call statistics, nothing learned). `marker()` names the learner's
state (the memory head, the active tool versions, the active adapter — None for the base model) and
`restore(marker)` brings it back — what the gate does when a change makes validation results worse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.config import RunConfig
from agentevo.errors import ConfigError
from agentevo.evolve.distil import DISTIL_SETTINGS, TrainSettings, train_adapter, uses_lora
from agentevo.protocols import Learner, Model
from agentevo.records import Trajectory

log = logging.getLogger(__name__)

CONDITIONS = ("none", "memory", "tools", "memory+tools", "lora", "memory+tools+lora")


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
    live: list[Learner] = field(default_factory=list)  # what training episodes recall from and feed
    frozen: list[Learner] = field(default_factory=list)  # what evaluations recall from; they learn nothing
    model_for: Callable[[str], Model] | None = None  # lora: builds the model a model string names
    adapter: str | None = None  # lora: the active adapter's folder, relative to `folder`; None: the base
    adapted: Model | None = None  # lora: the model on the active adapter

    @property
    def uses_memory(self) -> bool:
        return "memory" in self.name

    @property
    def uses_tools(self) -> bool:
        return "tools" in self.name

    @property
    def uses_lora(self) -> bool:
        return uses_lora(self.name)

    @property
    def learns(self) -> bool:
        return self.uses_memory or self.uses_tools or self.uses_lora

    @property
    def agent_model(self) -> Model:
        """The model the condition's episodes run on: the run's model, or the active adapter on it.
        Reflection and tool synthesis keep the run's model."""
        return self.adapted if self.adapter is not None and self.adapted is not None else self.model

    def model_name(self, adapter: str) -> str:
        return f"{self.config.model.name}+adapter:{(self.folder / adapter).resolve()}"

    def use_adapter(self, adapter: str | None) -> None:
        """Make `adapter` (None: the base model) the one episodes run on."""
        if adapter == self.adapter and (adapter is None or self.adapted is not None):
            return
        if adapter is not None and self.model_for is None:
            raise ConfigError(f"condition {self.name}: no way to load a model on an adapter")
        self.adapter = adapter
        self.adapted = self.model_for(self.model_name(adapter)) if adapter is not None else None

    def open(self) -> ConditionLearner:
        from agentevo.memory.learner import MemoryLearner, open_memory
        from agentevo.tools.learner import ToolLearner
        from agentevo.tools.wiring import open_run_archive

        self.folder.mkdir(parents=True, exist_ok=True)
        cfg = self.config
        if self.uses_memory:
            self.memory = open_memory(cfg, self.folder)
            for frozen, into in ((False, self.live), (True, self.frozen)):
                into.append(MemoryLearner.for_config(cfg, self.memory, self.model, frozen=frozen))
        if self.uses_tools:
            self.archive = open_run_archive(cfg, self.folder, replay_judge=self.replay_judge)
            for frozen, into in ((False, self.live), (True, self.frozen)):
                into.append(ToolLearner.for_config(cfg, self.archive, self.model, frozen=frozen))
        if self.uses_lora and self.adapter is not None:
            adapter, self.adapter = self.adapter, None
            self.use_adapter(adapter)  # a resumed run continues on the adapter its state names
        return self

    def learners(self, *, frozen: bool) -> list[Learner]:
        return self.frozen if frozen else self.live

    # --- learning ---------------------------------------------------------------------------------------
    def learn(self, trajectory: Trajectory) -> None:
        """Feed one (labelled) training trajectory to every live learner; learners never raise."""
        for learner in self.live:
            learner.learn(trajectory)

    def distil(
        self, successes: Sequence[Trajectory], round_: int, settings: TrainSettings = DISTIL_SETTINGS
    ) -> dict[str, Any]:
        """Train the round's adapter on its successes, continuing the active adapter, and run on it."""
        start = (self.folder / self.adapter).resolve() if self.adapter is not None else None
        record = train_adapter(successes, self.folder, round_, start, settings)
        if record["trained"]:
            self.use_adapter(record["trained"])
        return record

    # --- the gate -----------------------------------------------------------------------------------------
    def marker(self) -> dict[str, Any]:
        return {
            "memory": self.memory.head_id() if self.memory is not None else "",
            "tools": self.archive.state() if self.archive is not None else {},
            "adapter": self.adapter,
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
        if self.uses_lora and now["adapter"] != marker.get("adapter"):
            parts.append(f"adapter {marker.get('adapter') or 'base'} → {now['adapter'] or 'base'}")
        return "; ".join(parts) or "no change"

    def restore(self, marker: dict[str, Any], reason: str) -> None:
        if self.memory is not None and self.memory.head_id() != marker["memory"]:
            if marker["memory"]:
                self.memory.rollback(marker["memory"], source_run=reason)
            else:
                self.clear_memory(reason)
        if self.archive is not None:
            self.archive.restore_state(marker["tools"], reason)
        if self.uses_lora:
            self.use_adapter(marker.get("adapter"))

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
        if self.uses_lora:
            rows.append(
                {
                    "kind": "adapter (LoRA)",
                    "title": self.adapter or "base model",
                    "retrieved": 0,
                    "helped": 0,
                    "hurt": 0,
                    "content": self.model_name(self.adapter) if self.adapter else self.config.model.name,
                }
            )
        return rows

    def close(self) -> None:
        self.adapted = None
        if self.archive is not None:
            self.archive.release_envs()
        if self.memory is not None:
            self.memory.close()
