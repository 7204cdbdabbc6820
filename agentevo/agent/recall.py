"""Combining recallers: memory and the tool archive each offer part of what an episode is shown."""

from __future__ import annotations

from collections.abc import Sequence

from agentevo.protocols import Recaller, Recollection
from agentevo.records import Observation, Task, Trajectory


class CombinedRecall:
    """Asks every recaller in order and concatenates what they offer."""

    def __init__(self, recallers: Sequence[Recaller]) -> None:
        self.recallers = list(recallers)

    def recall(self, task: Task, observation: Observation) -> Recollection:
        merged = Recollection()
        for part in (r.recall(task, observation) for r in self.recallers):
            merged.demonstrations += part.demonstrations
            merged.notes += part.notes
            merged.tools += part.tools
            merged.handlers.update(part.handlers)
            merged.retrieved += part.retrieved
        return merged

    def on_episode_end(self, trajectory: Trajectory) -> None:
        for r in self.recallers:
            r.on_episode_end(trajectory)
