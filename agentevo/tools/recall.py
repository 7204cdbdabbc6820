"""ToolRecall: the archive's part of an episode's recollection.

The active tools whose descriptions are nearest the task's instruction (same kind; same suite unless the
archive allows cross-suite use) are offered as extra actions. Each call runs through a handler that
re-checks the tool's integrity, runs it in a sandbox (web and OS macros then in the live environment) and
records the call's outcome and latency before the model sees the result.
"""

from __future__ import annotations

import logging

from agentevo.errors import AgentevoError
from agentevo.protocols import Environment, Recollection, ToolHandler
from agentevo.records import Action, Observation, Task, Tool
from agentevo.tools.archive import FileToolArchive, ToolTampered
from agentevo.tools.execute import ToolExecutor

log = logging.getLogger(__name__)


def retrieved_id(tool: Tool) -> str:
    return f"tool:{tool.name}@v{tool.version}"


class ToolRecall:
    def __init__(
        self,
        archive: FileToolArchive,
        *,
        k: int = 3,
        executor: ToolExecutor | None = None,
        record: bool = True,
    ) -> None:
        self.archive = archive
        self.k = k
        self.record = record  # off for held-out evaluations: they must leave the archive as they found it
        self.executor = executor or ToolExecutor(
            archive.sandbox_factory, timeout_s=archive.settings.call_timeout_s
        )

    def recall(self, task: Task, observation: Observation) -> Recollection:
        query = str(observation.meta.get("objective") or task.instruction)  # a page's own utterance says more
        try:
            tools = self.archive.search(
                query, k=self.k, kind=task.kind, suite=task.suite, template=task.template_id
            )
        except AgentevoError as exc:  # a broken archive must not break the episode
            log.warning("tool recall failed: %s", exc)
            return Recollection()
        episode = str(task.meta.get("episode_id", ""))
        return Recollection(
            tools=[t.spec for t in tools],
            handlers={t.name: self.handler(t, episode) for t in tools},
            retrieved=[retrieved_id(t) for t in tools],
        )

    def handler(self, tool: Tool, episode_id: str) -> ToolHandler:
        def run(action: Action, env: Environment) -> Observation:
            return self.call(tool, action.args.get("args", {}), env, episode_id)

        return run

    def call(self, tool: Tool, args: object, env: Environment, episode_id: str = "") -> Observation:
        try:
            current = self.archive.get(tool.name, tool.version)  # integrity again, at the moment of use
        except ToolTampered as exc:
            return Observation(text="", error=f"tool {tool.name} refused: {exc.reason}")
        if current.status != "active":
            return Observation(text="", error=f"tool {tool.name} has been retired")
        done = self.executor.perform(current, args, env)
        if not self.record:
            return done.observation
        self.archive.record_call(
            tool.name,
            tool.version,
            done.ok,
            done.ms,
            error=done.error,
            episode_id=episode_id,
            bad_args=done.bad_args,
        )
        return done.observation
