"""FileToolArchive: tools as reviewable folders, the registry and statistics in SQL, retrieval by embedding.

The facade over the archive's parts, each one idea:
    registry.py    Registry — SQL: versions, status, hashes, calls, rejections, audit events
    files.py       ToolFiles — version folders on disk, hash-checked at load (ToolTampered)
    retrieval.py   ToolSearch — embeddings of names and descriptions, ranked search within scope
    admission.py   Admission — submit through the gate: store, supersede, merge a twin, or reject
    lifecycle.py   Lifecycle — retire, restore a state, reinforce, verify, retirement after failures
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from agentevo.protocols import Embedder, Sandbox
from agentevo.records import Scope, Tool
from agentevo.tools.admission import DUPLICATE_CANDIDATES, Admission
from agentevo.tools.candidate import Candidate, Origin, Replay
from agentevo.tools.files import ToolFiles, ToolTampered
from agentevo.tools.gate import Gate, GateReport
from agentevo.tools.lifecycle import Lifecycle
from agentevo.tools.registry import Registry, ToolRow, default_url
from agentevo.tools.replay import EnvFactory, ReplayJudge, SuiteEnvs
from agentevo.tools.retrieval import ToolSearch
from agentevo.tools.settings import ArchiveSettings

__all__ = ["DUPLICATE_CANDIDATES", "FileToolArchive", "ToolTampered", "sandbox_factory_for"]


def sandbox_factory_for(settings: ArchiveSettings) -> Any:
    """Opens a sandbox for the archive's tests; the sandbox package (and the run config) loads on the first
    call, so that listing or showing tools does not pay for it."""

    backend, memory_mb = settings.sandbox, settings.memory_mb
    timeout_s = max(settings.test_timeout_s, settings.call_timeout_s)

    def open_one() -> Any:
        from agentevo.envs.sandbox import Limits, open_sandbox

        return open_sandbox(backend, Limits(timeout_s=timeout_s, memory_mb=memory_mb))

    return open_one


class FileToolArchive:
    def __init__(
        self,
        root: Path,
        *,
        settings: ArchiveSettings | None = None,
        url: str | None = None,
        embedder: Embedder | None = None,
        sandbox_factory: Any = None,
        envs: EnvFactory | None = None,
        replay_judge: ReplayJudge | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings = settings or ArchiveSettings()
        self.registry = Registry(url or self.settings.db or default_url(self.root))
        self.sandbox_factory = sandbox_factory or sandbox_factory_for(self.settings)
        self.envs: EnvFactory = envs or SuiteEnvs(self.root.parent, sandbox=self.settings.sandbox)
        self.gate = Gate(
            self.sandbox_factory,
            envs=self.envs,
            test_timeout_s=self.settings.test_timeout_s,
            call_timeout_s=self.settings.call_timeout_s,
            replay_judge=replay_judge,
        )
        self._lock = threading.RLock()
        self.files = ToolFiles(self.root, self.registry)
        self.finder = ToolSearch(self.registry, self.files, self.settings, embedder)
        self.lifecycle = Lifecycle(self.registry, self.files, self.settings, self._lock)
        self.admission = Admission(
            self.registry,
            self.files,
            self.finder,
            self.lifecycle,
            self.gate,
            lock=self._lock,
            file_lock=FileLock(str(self.root / ".lock")),
        )

    @classmethod
    def for_workspace(
        cls, workspace: Path, settings: ArchiveSettings | None = None, **kw: Any
    ) -> FileToolArchive:
        return cls(workspace / "tools_archive", settings=settings, **kw)

    @property
    def embedder(self) -> Embedder:
        return self.finder.embedder

    def release_envs(self) -> None:
        """Close the environments replays opened (they are made again when next needed); never while
        another thread's registration is replaying in them."""
        with self._lock:
            if isinstance(self.envs, SuiteEnvs):
                self.envs.close()

    close = release_envs

    # --- registering (admission.py) ---------------------------------------------------------------------
    def register(
        self,
        tool: Tool,
        *,
        sandbox: Sandbox | None = None,
        replays: Sequence[Replay] = (),
        scope: Scope | None = None,
        origin: Origin = "user",
    ) -> Tool:
        """Gate and store a tool. `sandbox` is accepted for callers that pass one but not used: every check
        runs in a fresh sandbox of its own, so one run can leave nothing for the next."""
        del sandbox
        candidate = Candidate(tool=tool, scope=scope or Scope(), replays=list(replays), origin=origin)
        return self.submit(candidate).tool

    def submit(self, candidate: Candidate) -> GateReport:
        """Gate a candidate and, if it passes, store it as the next version (or merge it into a duplicate)."""
        return self.admission.submit(candidate)

    def load_for_gate(self, row: ToolRow) -> Tool:
        return self.admission.load_for_gate(row)

    def store(self, tool: Tool, candidate: Candidate, digest: str) -> Tool:
        return self.admission.store(tool, candidate, digest)

    def reject(self, candidate: Candidate, code: str, detail: str) -> None:
        self.admission.reject(candidate, code, detail)

    def find_duplicate(self, tool: Tool) -> Tool | None:
        """An active tool of the same kind and parameters that passes the new tool's tests, and vice versa."""
        return self.admission.find_duplicate(tool)

    def same_behaviour(self, a: Tool, b: Tool) -> bool:
        return self.admission.same_behaviour(a, b)

    # --- reading (files.py) -----------------------------------------------------------------------------
    def row_for(self, name: str, version: int | None = None) -> ToolRow:
        return self.files.row_for(name, version)

    def get(self, name: str, version: int | None = None) -> Tool:
        return self.files.get(name, version)

    def tampered(self, row: ToolRow, detail: str) -> Any:
        return self.files.tampered(row, detail)

    def tool_of(self, row: ToolRow, source: str, tests: str) -> Tool:
        return self.files.tool_of(row, source, tests)

    def replays(self, name: str, version: int) -> list[Replay]:
        return self.files.replays(name, version)

    def tools(self, status: str | None = None) -> list[Tool]:
        """Every version (or those with a status), tampered ones left out."""
        return self.files.tools(status)

    def state(self) -> dict[str, int]:
        return {r.name: r.version for r in self.registry.rows(status="active")}

    # --- retrieval (retrieval.py) -----------------------------------------------------------------------
    def ensure_embeddings(self, rows: Sequence[ToolRow]) -> None:
        self.finder.ensure_embeddings(rows)

    def scored(
        self, query: str, *, k: int = 5, kind: str | None = None, suite: str | None = None, template: str = ""
    ) -> list[tuple[Tool, float]]:
        return self.finder.scored(query, k=k, kind=kind, suite=suite, template=template)

    def search(
        self, query: str, *, k: int = 5, kind: str | None = None, suite: str | None = None, template: str = ""
    ) -> list[Tool]:
        return [t for t, _ in self.scored(query, k=k, kind=kind, suite=suite, template=template)]

    # --- status and statistics (lifecycle.py) -----------------------------------------------------------
    def retire(self, name: str, reason: str = "", version: int | None = None) -> None:
        self.lifecycle.retire(name, reason, version)

    def restore_state(self, state: dict[str, int], reason: str) -> None:
        """Make exactly the versions in `state` the active ones (what `state()` returned earlier)."""
        self.lifecycle.restore_state(state, reason)

    def reinforce(self, name: str, trajectory_ids: Sequence[str]) -> None:
        """Another successful trajectory behind an existing tool: recorded, no new version."""
        self.lifecycle.reinforce(name, trajectory_ids)

    def merge(self, candidate: Candidate, *, into: Tool) -> None:
        self.lifecycle.merge(candidate, into=into)

    def mark_verified(self, name: str, version: int) -> None:
        self.lifecycle.mark_verified(name, version)

    def record_call(
        self,
        name: str,
        version: int,
        ok: bool,
        ms: float,
        *,
        error: str = "",
        episode_id: str = "",
        bad_args: bool = False,
    ) -> None:
        self.lifecycle.record_call(
            name, version, ok, ms, error=error, episode_id=episode_id, bad_args=bad_args
        )
