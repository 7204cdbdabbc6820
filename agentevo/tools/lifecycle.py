"""A tool's life after registration: retired when it keeps failing or on demand, restored to an earlier state,
reinforced by more trajectories, merged with a twin that behaves the same under both tools' tests, and
re-verified on demand (tests, replays, integrity, today's rules)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from agentevo.records import Provenance, Tool, utcnow
from agentevo.tools.candidate import Candidate
from agentevo.tools.files import ToolFiles, ToolTampered
from agentevo.tools.gate import GateRejection
from agentevo.tools.registry import CallRow, Registry
from agentevo.tools.settings import ArchiveSettings

if TYPE_CHECKING:
    from agentevo.tools.archive import FileToolArchive

log = logging.getLogger(__name__)


class Lifecycle:
    """Status changes of registered versions, each in the registry, in tool.json and in the audit trail."""

    def __init__(
        self, registry: Registry, files: ToolFiles, settings: ArchiveSettings, lock: threading.RLock
    ) -> None:
        self.registry, self.files, self.settings, self.lock = registry, files, settings, lock

    def retire(self, name: str, reason: str = "", version: int | None = None) -> None:
        with self.lock:
            row = self.files.row_for(name, version)
            if row.status == "retired":
                return
            self.registry.set_status(row.name, row.version, "retired", reason)
            self.files.update_meta(row.name, row.version, missing_ok=True, status="retired", reason=reason)
            self.registry.event(row.name, row.version, "retired", reason)

    def restore_state(self, state: dict[str, int], reason: str) -> None:
        """Make exactly the versions in `state` the active ones (what `state()` returned earlier): versions
        registered since are retired, versions retired since are active again."""
        with self.lock:
            for row in self.registry.rows(status="active"):
                if state.get(row.name) != row.version:
                    self.retire(row.name, reason, version=row.version)
            for name, version in state.items():
                row = self.registry.get(name, version)
                if row is not None and row.status != "active":
                    self.registry.set_status(name, version, "active", reason)
                    self.files.update_meta(name, version, missing_ok=True, status="active", reason=reason)
                    self.registry.event(name, version, "restored", reason)

    def reinforce(self, name: str, trajectory_ids: Sequence[str]) -> None:
        """Another successful trajectory behind an existing tool: recorded, no new version."""
        with self.lock:
            row = self.registry.active(name)
            if row is None:
                return
            prov = Provenance.model_validate(row.provenance or {})
            ids = tuple(dict.fromkeys([*prov.trajectory_ids, *trajectory_ids]))
            row.provenance = prov.model_copy(update={"trajectory_ids": ids}).model_dump(mode="json")
            self.registry.save(row)

    def merge(self, candidate: Candidate, *, into: Tool) -> None:
        """Keep `into` and make the candidate's name its alias (with the candidate's trajectories)."""
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

    def mark_verified(self, name: str, version: int) -> None:
        row = self.registry.get(name, version)
        if row is None:
            return
        row.verified_at = utcnow()
        self.registry.save(row)
        self.files.update_meta(name, version, verified_at=row.verified_at.isoformat())
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
        outcome = "bad_args" if bad_args else ("ok" if ok else "failed")
        self.registry.add(
            CallRow(
                name=name, version=version, outcome=outcome, ms=ms, error=error[:1000], episode_id=episode_id
            )
        )
        if outcome == "failed":
            self.check_retirement(name, version)

    def check_retirement(self, name: str, version: int) -> bool:
        """Retire a tool that failed more than the allowed share of its recent calls; True when it did."""
        s = self.settings
        recent = self.registry.recent_outcomes(name, version, s.retire_window)
        failed = sum(o == "failed" for o in recent)
        if len(recent) < s.retire_min_calls or failed / len(recent) <= s.retire_failure_rate:
            return False
        row = self.registry.get(name, version)
        if row is None or row.status != "active":
            return False
        self.retire(name, f"failed {failed} of its last {len(recent)} calls", version=version)
        return True


@dataclass
class Verdict:
    name: str
    version: int
    ok: bool
    detail: str
    action: str = ""  # retired | merged | ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class VerifyReport:
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def retired(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action == "retired"]


def verify_one(archive: FileToolArchive, name: str, version: int) -> Verdict:
    """Everything the gate checked, again, against today's environment; the tool itself is not changed."""
    try:
        tool = archive.get(name, version)
    except ToolTampered as exc:
        return Verdict(name, version, False, exc.reason)
    candidate = Candidate(tool=tool, replays=archive.replays(name, version))
    try:
        report = archive.gate.check(candidate)
    except GateRejection as rejection:
        return Verdict(name, version, False, f"{rejection.code}: {rejection.detail}")
    detail = report.tests.summary() + "".join(f"; replay {r.detail}" for r in report.replays)
    return Verdict(name, version, True, detail)


def verify(
    archive: FileToolArchive, *, retire: bool = True, progress: Callable[[Tool | None], None] | None = None
) -> VerifyReport:
    report = VerifyReport()
    for row in archive.registry.rows(status="active"):
        verdict = verify_one(archive, row.name, row.version)
        if verdict.ok:
            archive.mark_verified(row.name, row.version)
        elif retire:
            archive.retire(row.name, f"verify: {verdict.detail}", version=row.version)
            verdict.action = "retired"
        report.verdicts.append(verdict)
        if progress is not None:
            progress(None)
    report.verdicts += merge_duplicates(archive) if retire else []
    return report


def merge_duplicates(archive: FileToolArchive) -> list[Verdict]:
    """Among active tools of one kind and one signature, keep the older of any two that behave the same."""
    merged: list[Verdict] = []
    rows = sorted(archive.registry.rows(status="active"), key=lambda r: r.created_at)
    gone: set[str] = set()
    for i, keep in enumerate(rows):
        if keep.name in gone:
            continue
        for other in rows[i + 1 :]:
            if other.name in gone or other.kind != keep.kind or other.parameters != keep.parameters:
                continue
            try:
                a, b = archive.get(keep.name, keep.version), archive.get(other.name, other.version)
            except ToolTampered:
                continue
            if archive.same_behaviour(a, b):
                archive.merge(Candidate(tool=b, origin="user"), into=a)
                archive.retire(b.name, f"merged into {a.name}", version=b.version)
                gone.add(b.name)
                merged.append(Verdict(b.name, b.version, True, f"same behaviour as {a.name}", "merged"))
    return merged
