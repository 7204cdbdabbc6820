"""Admitting a tool: every candidate goes through the gate before it is stored as a new version.

A candidate whose files hash like a stored version is that version (or refused, if it was retired); a name
that is another tool's alias, or another kind's tool, is refused; a new tool that behaves like an existing
one under both tools' tests is merged into it (its name becomes an alias) instead of being added; a new
version supersedes the active one. A rejection is recorded with its reason and raised as `ToolRejected`.
"""

from __future__ import annotations

import threading

from filelock import FileLock

from agentevo.errors import ToolRejected
from agentevo.records import Tool
from agentevo.tools import folder
from agentevo.tools.candidate import Candidate
from agentevo.tools.files import ToolFiles, ToolTampered
from agentevo.tools.gate import Gate, GateRejection, GateReport
from agentevo.tools.lifecycle import Lifecycle
from agentevo.tools.registry import Registry, RejectionRow, ToolRow
from agentevo.tools.retrieval import ToolSearch
from agentevo.tools.sandboxed import TestReport

DUPLICATE_CANDIDATES = 3  # tools tried as twins of a new one (each try is two sandboxed test runs)


class Admission:
    """Gate, then store, merge or reject; one registration at a time per archive (thread and file lock)."""

    def __init__(
        self,
        registry: Registry,
        files: ToolFiles,
        search: ToolSearch,
        lifecycle: Lifecycle,
        gate: Gate,
        *,
        lock: threading.RLock,
        file_lock: FileLock,
    ) -> None:
        self.registry, self.files, self.search, self.lifecycle, self.gate = (
            registry,
            files,
            search,
            lifecycle,
            gate,
        )
        self.lock, self.file_lock = lock, file_lock

    def submit(self, candidate: Candidate) -> GateReport:
        """Gate a candidate and, if it passes, store it as the next version (or merge it into a duplicate)."""
        with self.lock, self.file_lock:
            try:
                return self.admit(candidate)
            except GateRejection as rejection:
                self.reject(candidate, rejection.code, rejection.detail)
                raise ToolRejected(candidate.name, f"{rejection.code}: {rejection.detail}") from None

    def admit(self, candidate: Candidate) -> GateReport:
        draft = candidate.tool
        digest = folder.content_hash(draft.source, draft.tests)
        versions = self.registry.versions(draft.name)
        for row in versions:
            if row.sha256 == digest:
                if row.status != "active":
                    raise GateRejection(
                        "previously-retired", f"this exact tool was retired as v{row.version}: {row.reason}"
                    )
                return GateReport(tool=self.files.get(row.name, row.version), tests=TestReport())
        alias = self.registry.by_alias(draft.name) if not versions else None
        if alias is not None:
            raise GateRejection("name-shadowing", f"{draft.name!r} is an alias of {alias.name!r}")
        if versions and versions[-1].kind != draft.kind:
            raise GateRejection("name-shadowing", f"{draft.name!r} is already a {versions[-1].kind} tool")
        previous = self.load_for_gate(versions[-1]) if versions else None
        report = self.gate.check(candidate, previous=previous)
        if previous is None and (twin := self.find_duplicate(report.tool)) is not None:
            self.lifecycle.merge(candidate, into=twin)
            report.tool = self.files.get(twin.name)
            return report
        version = versions[-1].version + 1 if versions else 1
        report.tool = self.store(report.tool.model_copy(update={"version": version}), candidate, digest)
        if previous is not None and previous.status == "active":
            self.lifecycle.retire(previous.name, f"superseded by v{version}", version=previous.version)
        return report

    def load_for_gate(self, row: ToolRow) -> Tool:
        try:
            return self.files.get(row.name, row.version)
        except ToolTampered as exc:
            raise GateRejection("previous-tampered", str(exc)) from None

    def store(self, tool: Tool, candidate: Candidate, digest: str) -> Tool:
        row = self.files.write(tool, candidate, digest)
        self.search.ensure_embeddings([row])
        return tool

    def reject(self, candidate: Candidate, code: str, detail: str) -> None:
        self.registry.add(
            RejectionRow(
                name=candidate.name,
                kind=candidate.tool.kind,
                code=code,
                reason=detail[:2000],
                origin=candidate.origin,
                trajectory_ids=list(candidate.tool.provenance.trajectory_ids),
            )
        )

    def find_duplicate(self, tool: Tool) -> Tool | None:
        """An active tool of the same kind and parameters that passes the new tool's tests, and vice versa.

        Only the few nearest by description are tried, so registering stays linear in the archive's size."""
        rows = [
            r
            for r in self.registry.rows(status="active", kind=tool.kind)
            if r.parameters == tool.parameters and r.name != tool.name
        ]
        if len(rows) > DUPLICATE_CANDIDATES:
            rows = self.search.nearest_rows(tool, rows, DUPLICATE_CANDIDATES)
        for row in rows:
            try:
                other = self.files.get(row.name, row.version)
            except ToolTampered:
                continue
            if self.same_behaviour(tool, other):
                return other
        return None

    def same_behaviour(self, a: Tool, b: Tool) -> bool:
        a_on_b = self.gate.tests(b.source, b.name, {"test_tool.py": a.tests}, aliases=[a.name])
        if not a_on_b.ok:
            return False
        return self.gate.tests(a.source, a.name, {"test_tool.py": b.tests}, aliases=[b.name]).ok
