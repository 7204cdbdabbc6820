"""FileToolArchive: tools as reviewable folders, the registry and statistics in SQL, retrieval by embedding.

Registering goes through the gate; a rejection is recorded with its reason and raised as `ToolRejected`.
A tool whose files no longer match the hash recorded at registration is refused at load (TL-04). A new
version supersedes the old one; a tool that behaves like an existing one under both tools' tests is merged
into it (its name becomes an alias) instead of being added.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from agentevo.errors import ConfigError, ToolRejected
from agentevo.protocols import Embedder, Sandbox
from agentevo.records import Provenance, Scope, Tool, utcnow
from agentevo.tools import folder
from agentevo.tools.candidate import Candidate, Origin, Replay
from agentevo.tools.gate import Gate, GateRejection, GateReport
from agentevo.tools.registry import Registry, RejectionRow, ToolRow, default_url
from agentevo.tools.replay import EnvFactory, ReplayJudge, SuiteEnvs
from agentevo.tools.sandboxed import TestReport
from agentevo.tools.settings import ArchiveSettings

log = logging.getLogger(__name__)

DUPLICATE_CANDIDATES = 3  # tools tried as twins of a new one (each try is two sandboxed test runs)


class ToolTampered(ToolRejected):
    """A tool's files differ from what was registered."""


def sandbox_factory_for(settings: ArchiveSettings) -> Any:
    from agentevo.envs.sandbox import Limits, open_sandbox

    limits = Limits(
        timeout_s=max(settings.test_timeout_s, settings.call_timeout_s), memory_mb=settings.memory_mb
    )
    return lambda: open_sandbox(settings.sandbox, limits)


def embedder_name(embedder: Embedder) -> str:
    return getattr(embedder, "__name__", None) or f"{type(embedder).__name__}{getattr(embedder, 'dim', '')}"


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(x * x for x in b)) or 1.0
    return sum(x * y for x, y in zip(a, b, strict=False)) / (na * nb)


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
        self._embedder = embedder
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
        self._file_lock = FileLock(str(self.root / ".lock"))

    @classmethod
    def for_workspace(
        cls, workspace: Path, settings: ArchiveSettings | None = None, **kw: Any
    ) -> FileToolArchive:
        return cls(workspace / "tools_archive", settings=settings, **kw)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from agentevo.models.embedding import load_embedder

            self._embedder = load_embedder(self.settings.embedder)
        return self._embedder

    def release_envs(self) -> None:
        """Close the environments replays opened (they are made again when next needed); never while
        another thread's registration is replaying in them."""
        with self._lock:
            if isinstance(self.envs, SuiteEnvs):
                self.envs.close()

    close = release_envs

    # --- registering ------------------------------------------------------------------------------------
    def register(
        self,
        tool: Tool,
        *,
        sandbox: Sandbox | None = None,
        replays: Sequence[Replay] = (),
        scope: Scope | None = None,
        origin: Origin = "user",
    ) -> Tool:
        """Gate and store a tool (the ToolArchive protocol). `sandbox` is accepted for the protocol but not
        used: every check runs in a fresh sandbox of its own, so one run can leave nothing for the next."""
        del sandbox
        candidate = Candidate(tool=tool, scope=scope or Scope(), replays=list(replays), origin=origin)
        return self.submit(candidate).tool

    def submit(self, candidate: Candidate) -> GateReport:
        """Gate a candidate and, if it passes, store it as the next version (or merge it into a duplicate)."""
        with self._lock, self._file_lock:
            try:
                return self._submit(candidate)
            except GateRejection as rejection:
                self.reject(candidate, rejection.code, rejection.detail)
                raise ToolRejected(candidate.name, f"{rejection.code}: {rejection.detail}") from None

    def _submit(self, candidate: Candidate) -> GateReport:
        draft = candidate.tool
        digest = folder.content_hash(draft.source, draft.tests)
        versions = self.registry.versions(draft.name)
        for row in versions:
            if row.sha256 == digest:
                if row.status != "active":
                    raise GateRejection(
                        "previously-retired", f"this exact tool was retired as v{row.version}: {row.reason}"
                    )
                return GateReport(tool=self.get(row.name, row.version), tests=TestReport())
        alias = self.registry.by_alias(draft.name) if not versions else None
        if alias is not None:
            raise GateRejection("name-shadowing", f"{draft.name!r} is an alias of {alias.name!r}")
        if versions and versions[-1].kind != draft.kind:
            raise GateRejection("name-shadowing", f"{draft.name!r} is already a {versions[-1].kind} tool")
        previous = self.load_for_gate(versions[-1]) if versions else None
        report = self.gate.check(candidate, previous=previous)
        if previous is None and (twin := self.find_duplicate(report.tool)) is not None:
            self.merge(candidate, into=twin)
            report.tool = self.get(twin.name)
            return report
        version = versions[-1].version + 1 if versions else 1
        report.tool = self.store(report.tool.model_copy(update={"version": version}), candidate, digest)
        if previous is not None and previous.status == "active":
            self.retire(previous.name, f"superseded by v{version}", version=previous.version)
        return report

    def load_for_gate(self, row: ToolRow) -> Tool:
        try:
            return self.get(row.name, row.version)
        except ToolTampered as exc:
            raise GateRejection("previous-tampered", str(exc)) from None

    def store(self, tool: Tool, candidate: Candidate, digest: str) -> Tool:
        meta = folder.meta_of(
            tool, scope=candidate.scope, replays=candidate.replays, origin=candidate.origin, sha256=digest
        )
        path = folder.write_version(self.root, tool, meta)
        row = ToolRow(
            name=tool.name,
            version=tool.version,
            kind=tool.kind,
            description=tool.description,
            parameters=tool.parameters,
            sha256=digest,
            origin=candidate.origin,
            scope=candidate.scope.model_dump(mode="json"),
            provenance=tool.provenance.model_dump(mode="json"),
            created_at=tool.created_at,
            verified_at=tool.verified_at,
        )
        try:
            self.registry.add(row)
        except Exception:
            shutil.rmtree(path, ignore_errors=True)  # no folder without its registry row
            raise
        self.registry.event(
            tool.name, tool.version, "registered", f"{candidate.origin}; sha256 {digest[:12]}"
        )
        self.ensure_embeddings([row])
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

    # --- duplicates -------------------------------------------------------------------------------------
    def find_duplicate(self, tool: Tool) -> Tool | None:
        """An active tool of the same kind and parameters that passes the new tool's tests, and vice versa.

        Only the few nearest by description are tried, so registering stays linear in the archive's size."""
        rows = [
            r
            for r in self.registry.rows(status="active", kind=tool.kind)
            if r.parameters == tool.parameters and r.name != tool.name
        ]
        if len(rows) > DUPLICATE_CANDIDATES:
            self.ensure_embeddings(rows)
            vec = self.embedder([embedding_text(tool.name, tool.description)])[0]
            rows = sorted(rows, key=lambda r: -cosine(vec, r.embedding or []))[:DUPLICATE_CANDIDATES]
        for row in rows:
            try:
                other = self.get(row.name, row.version)
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

    def merge(self, candidate: Candidate, *, into: Tool) -> None:
        row = self.registry.get(into.name, into.version)
        assert row is not None
        row.aliases = sorted({*(row.aliases or []), candidate.name})
        prov = Provenance.model_validate(row.provenance or {})
        ids = tuple(dict.fromkeys([*prov.trajectory_ids, *candidate.tool.provenance.trajectory_ids]))
        row.provenance = prov.model_copy(update={"trajectory_ids": ids}).model_dump(mode="json")
        self.registry.save(row)
        self.registry.event(
            into.name, into.version, "merged", f"{candidate.name} behaves the same; kept as alias"
        )

    def reinforce(self, name: str, trajectory_ids: Sequence[str]) -> None:
        """Another successful trajectory behind an existing tool: recorded, no new version."""
        with self._lock:
            row = self.registry.active(name)
            if row is None:
                return
            prov = Provenance.model_validate(row.provenance or {})
            ids = tuple(dict.fromkeys([*prov.trajectory_ids, *trajectory_ids]))
            row.provenance = prov.model_copy(update={"trajectory_ids": ids}).model_dump(mode="json")
            self.registry.save(row)

    # --- reading ----------------------------------------------------------------------------------------
    def row_for(self, name: str, version: int | None = None) -> ToolRow:
        if version is not None:
            row = self.registry.get(name, version)
        else:
            versions = self.registry.versions(name)
            active = [r for r in versions if r.status == "active"]
            row = (active or versions or [None])[-1]
            if row is None:
                row = self.registry.by_alias(name)
        if row is None:
            known = ", ".join(sorted({r.name for r in self.registry.rows()})) or "none"
            at = f"@{version}" if version is not None else ""
            raise ConfigError(f"no tool {name}{at} in {self.root} (known: {known})")
        return row

    def get(self, name: str, version: int | None = None) -> Tool:
        row = self.row_for(name, version)
        path = folder.version_dir(self.root, row.name, row.version)
        try:
            source, tests, _meta = folder.read_files(path)
        except ConfigError as exc:
            self.tampered(row, f"files unreadable: {exc}")
        digest = folder.content_hash(source, tests)
        if digest != row.sha256:
            self.tampered(row, f"content hash {digest[:12]} differs from the registered {row.sha256[:12]}")
        return self.tool_of(row, source, tests)

    def tampered(self, row: ToolRow, detail: str) -> Any:
        if not any(
            e.event == "tampered" and e.version == row.version for e in self.registry.events(row.name, 20)
        ):
            self.registry.event(row.name, row.version, "tampered", detail)
        log.warning("tool %s@%s refused: %s", row.name, row.version, detail)
        raise ToolTampered(row.name, f"tampered: {detail}")

    def tool_of(self, row: ToolRow, source: str, tests: str) -> Tool:
        return Tool(
            name=row.name,
            version=row.version,
            description=row.description,
            parameters=row.parameters,
            kind=row.kind,  # type: ignore[arg-type]
            source=source,
            tests=tests,
            provenance=Provenance.model_validate(row.provenance or {}),
            stats=self.registry.stats(row.name, row.version),
            status=row.status,  # type: ignore[arg-type]
            created_at=row.created_at,
            verified_at=row.verified_at,
        )

    def replays(self, name: str, version: int) -> list[Replay]:
        _source, _tests, meta = folder.read_files(folder.version_dir(self.root, name, version))
        return [Replay.model_validate(r) for r in meta.get("replays") or []]

    def tools(self, status: str | None = None) -> list[Tool]:
        """Every version (or those with a status), tampered ones left out."""
        found = []
        for row in self.registry.rows(status=status):
            with contextlib.suppress(ToolTampered):
                found.append(self.get(row.name, row.version))
        return found

    def state(self) -> dict[str, int]:
        return {r.name: r.version for r in self.registry.rows(status="active")}

    # --- retrieval --------------------------------------------------------------------------------------
    def ensure_embeddings(self, rows: Sequence[ToolRow]) -> None:
        name = embedder_name(self.embedder)
        stale = [r for r in rows if r.embedding is None or r.embedder != name]
        if not stale:
            return
        vectors = self.embedder([embedding_text(r.name, r.description) for r in stale])
        for row, vec in zip(stale, vectors, strict=True):
            row.embedding, row.embedder = list(vec), name
            self.registry.save(row)

    def scored(
        self, query: str, *, k: int = 5, kind: str | None = None, suite: str | None = None, template: str = ""
    ) -> list[tuple[Tool, float]]:
        rows = self.registry.rows(status="active", kind=kind)
        if suite is not None and self.settings.same_suite:
            rows = [r for r in rows if in_scope(r.scope or {}, suite, template)]
        if not rows or k <= 0:
            return []
        self.ensure_embeddings(rows)
        query_vec = self.embedder([query])[0]
        ranked = sorted(((cosine(query_vec, r.embedding or []), r) for r in rows), key=lambda p: -p[0])
        found = []
        for score, row in ranked:
            if score < self.settings.min_score or len(found) >= k:
                break
            with contextlib.suppress(ToolTampered):
                found.append((self.get(row.name, row.version), score))
        return found

    def search(
        self, query: str, *, k: int = 5, kind: str | None = None, suite: str | None = None, template: str = ""
    ) -> list[Tool]:
        return [t for t, _ in self.scored(query, k=k, kind=kind, suite=suite, template=template)]

    # --- status and statistics --------------------------------------------------------------------------
    def retire(self, name: str, reason: str = "", version: int | None = None) -> None:
        with self._lock:
            row = self.row_for(name, version)
            if row.status == "retired":
                return
            self.registry.set_status(row.name, row.version, "retired", reason)
            path = folder.version_dir(self.root, row.name, row.version)
            if path.exists():
                folder.update_meta(path, status="retired", reason=reason)
            self.registry.event(row.name, row.version, "retired", reason)

    def restore_state(self, state: dict[str, int], reason: str) -> None:
        """Make exactly the versions in `state` the active ones (what `state()` returned earlier): versions
        registered since are retired, versions retired since are active again."""
        with self._lock:
            for row in self.registry.rows(status="active"):
                if state.get(row.name) != row.version:
                    self.retire(row.name, reason, version=row.version)
            for name, version in state.items():
                row = self.registry.get(name, version)
                if row is not None and row.status != "active":
                    self.registry.set_status(name, version, "active", reason)
                    path = folder.version_dir(self.root, name, version)
                    if path.exists():
                        folder.update_meta(path, status="active", reason=reason)
                    self.registry.event(name, version, "restored", reason)

    def mark_verified(self, name: str, version: int) -> None:
        row = self.registry.get(name, version)
        if row is None:
            return
        row.verified_at = utcnow()
        self.registry.save(row)
        folder.update_meta(
            folder.version_dir(self.root, name, version), verified_at=row.verified_at.isoformat()
        )
        self.registry.event(name, version, "verified")

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
        from agentevo.tools.lifecycle import check_retirement
        from agentevo.tools.registry import CallRow

        outcome = "bad_args" if bad_args else ("ok" if ok else "failed")
        self.registry.add(
            CallRow(
                name=name, version=version, outcome=outcome, ms=ms, error=error[:1000], episode_id=episode_id
            )
        )
        if outcome == "failed":
            check_retirement(self, name, version)


def in_scope(scope: dict[str, Any], suite: str, template: str) -> bool:
    """Offered in its own suite, or on its own template in another suite (miniwob-lite → miniwob)."""
    return scope.get("suite", "") in ("", suite) or bool(template and scope.get("template") == template)


def embedding_text(name: str, description: str) -> str:
    return f"{name.replace('_', ' ')}: {description}"
