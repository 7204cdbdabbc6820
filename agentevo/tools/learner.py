"""The tool archive as a learner (`agentevo run --tools on`, the tools conditions of `agentevo evolve`).

    recall   ToolRecall offers the archived tools nearest the task as extra actions
    learn    after a successful episode, compile (and/or ask an LLM for) a tool and put it through the gate

`learn` never raises: a tool that cannot be made or is rejected must not end the run. A frozen learner
(held-out evaluations) offers tools without recording their calls and learns nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentevo.config import RunConfig
from agentevo.errors import AgentevoError, ToolRejected
from agentevo.protocols import Change, Model, Recollection
from agentevo.records import Observation, Task, Tool, Trajectory
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.compiler import compile_trajectory
from agentevo.tools.recall import ToolRecall

log = logging.getLogger(__name__)


@dataclass
class ToolLearner:
    archive: FileToolArchive
    offer: ToolRecall
    compiler: bool = True
    synthesiser: Any = None  # LLMSynthesiser
    frozen: bool = False
    name: str = "tools"
    registered: list[Tool] = field(default_factory=list)

    @classmethod
    def for_config(
        cls, cfg: RunConfig, archive: FileToolArchive, model: Model, *, frozen: bool = False
    ) -> ToolLearner:
        """The learner a run file describes (`archive.*`) over an open archive."""
        from agentevo.tools.wiring import llm_synthesiser

        settings = archive.settings
        return cls(
            archive,
            ToolRecall(archive, k=cfg.archive.k, record=not frozen),
            compiler=settings.synthesiser in ("compiler", "both"),
            synthesiser=llm_synthesiser(archive, settings, model),
            frozen=frozen or settings.synthesiser == "off",
        )

    def recall(self, task: Task, observation: Observation) -> Recollection:
        return self.offer.recall(task, observation)

    def learn(self, trajectory: Trajectory) -> Change:
        if self.frozen or not trajectory.succeeded:
            return Change(self.name)
        before = len(self.registered)
        try:
            self.make(trajectory)
        except Exception:  # the run goes on whatever happens here
            log.exception("learning a tool from %s failed", trajectory.id)
        finally:
            self.archive.release_envs()
        new = [f"{t.name}@v{t.version}" for t in self.registered[before:]]
        return Change(self.name, f"registered {', '.join(new)}" if new else "", tuple(new))

    def make(self, trajectory: Trajectory) -> None:
        if self.compiler:
            compiled = compile_trajectory(trajectory)
            if compiled.candidate is not None and not self.known(compiled.candidate.name, trajectory):
                self.submit(lambda: self.archive.submit(compiled.candidate).tool)  # type: ignore[arg-type]
        if self.synthesiser is not None:
            self.submit(lambda: self.synthesiser.synthesise([trajectory]))

    def known(self, name: str, trajectory: Trajectory) -> bool:
        """An active tool of that name already does this: note the new evidence instead of a new version."""
        if self.archive.registry.active(name) is None:
            return False
        self.archive.reinforce(name, [trajectory.id])
        return True

    def submit(self, make: Callable[[], Tool | None]) -> None:
        try:
            tool = make()
        except ToolRejected as exc:
            log.info("tool rejected: %s", exc)
            return
        except AgentevoError as exc:
            log.warning("tool not registered: %s", exc)
            return
        if tool is not None:
            log.info("tool %s@v%s registered", tool.name, tool.version)
            self.registered.append(tool)
