"""A tool's life after registration: retired when it keeps failing, re-verified on demand (tests, replays,
integrity, today's rules), and merged with a twin that behaves the same under both tools' tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from agentevo.records import Tool
from agentevo.tools.archive import FileToolArchive, ToolTampered
from agentevo.tools.candidate import Candidate
from agentevo.tools.gate import GateRejection

log = logging.getLogger(__name__)


def check_retirement(archive: FileToolArchive, name: str, version: int) -> bool:
    """Retire a tool that failed more than the allowed share of its recent calls; True when it did."""
    s = archive.settings
    recent = archive.registry.recent_outcomes(name, version, s.retire_window)
    failed = sum(o == "failed" for o in recent)
    if len(recent) < s.retire_min_calls or failed / len(recent) <= s.retire_failure_rate:
        return False
    row = archive.registry.get(name, version)
    if row is None or row.status != "active":
        return False
    archive.retire(name, f"failed {failed} of its last {len(recent)} calls", version=version)
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
