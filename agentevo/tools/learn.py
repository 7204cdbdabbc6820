"""Learning tools during a run: after each successful episode, compile (and/or ask an LLM for) a tool and put
it through the gate. Never raises: a tool that cannot be made or is rejected must not end the run."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agentevo.errors import AgentevoError, ToolRejected
from agentevo.records import Tool, Trajectory
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.compiler import compile_trajectory

log = logging.getLogger(__name__)


class ToolLearner:
    def __init__(
        self, archive: FileToolArchive, *, compiler: bool = True, synthesiser: object | None = None
    ) -> None:
        self.archive = archive
        self.compiler = compiler
        self.synthesiser = synthesiser
        self.registered: list[Tool] = []

    def __call__(self, trajectory: Trajectory) -> None:
        if not trajectory.succeeded:
            return
        try:
            self.learn(trajectory)
        except Exception:  # the run goes on whatever happens here
            log.exception("learning a tool from %s failed", trajectory.id)
        finally:
            self.archive.release_envs()

    def learn(self, trajectory: Trajectory) -> None:
        if self.compiler:
            compiled = compile_trajectory(trajectory)
            if compiled.candidate is not None and not self.known(compiled.candidate.name, trajectory):
                self.submit(lambda: self.archive.submit(compiled.candidate).tool)  # type: ignore[arg-type]
        if self.synthesiser is not None:
            self.submit(lambda: self.synthesiser.synthesise([trajectory]))  # type: ignore[attr-defined]

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


def chain(*callbacks: Callable[[Trajectory], None] | None) -> Callable[[Trajectory], None]:
    live = [c for c in callbacks if c is not None]

    def both(trajectory: Trajectory) -> None:
        for callback in live:
            callback(trajectory)

    return both
