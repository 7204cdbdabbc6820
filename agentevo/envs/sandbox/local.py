"""The `local` backend: a plain subprocess in a private folder, with rlimits but no isolation.

For tests and trusted code only; it is chosen only when asked for by name, and says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from agentevo.envs.sandbox.base import HostFolder, Limits
from agentevo.envs.sandbox.process import run_capped
from agentevo.records import ExecResult

log = logging.getLogger(__name__)


class LocalSandbox(HostFolder):
    name = "local"

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__("agentevo-local-", inside=None)
        self.limits = limits or Limits()

    def exec(
        self, command: str | Sequence[str], *, timeout_s: float | None = None, stdin: bytes | None = None
    ) -> ExecResult:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SANDBOX_WORKDIR": str(self.work),
        }
        return run_capped(
            self.limits.prlimit_args(None) + argv,
            cwd=str(self.work),
            env=env,
            timeout_s=timeout_s or self.limits.timeout_s,
            output_bytes=self.limits.output_bytes,
            stdin=stdin,
        )

    def close(self) -> None:
        self.remove()
