"""What the sandbox-backed environments (code, os) share: a sandbox per episode made by a factory, the task,
whether it passed, the details of the last episode, a 0/1 score, and closing the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentevo.protocols import Sandbox
from agentevo.records import Task, Trajectory


class SandboxedEnvironment:
    kind = ""

    def __init__(self, sandbox_factory: Callable[[], Sandbox], *, timeout_s: float = 10.0) -> None:
        self.sandbox_factory = sandbox_factory
        self.timeout_s = timeout_s
        self.sandbox: Sandbox | None = None
        self.task: Task | None = None
        self.passed = False
        self.details: dict[str, Any] = {}

    def begin(self, task: Task, details: dict[str, Any]) -> None:
        """A new episode: the previous sandbox closed, the task and fresh details set."""
        self.close()
        self.task, self.passed, self.details = task, False, details

    def score(self, trajectory: Trajectory) -> float:
        return 1.0 if self.passed else 0.0

    def close(self) -> None:
        if self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            sandbox.close()
