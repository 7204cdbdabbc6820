"""Reading the memory's commit history: the log, commit references, the items as they were just after any
commit, the difference between two commits, and the changes that bring the live items back to a commit."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, select

from agentevo.errors import MemoryStoreError
from agentevo.memory.changes import Change, CommitInfo, Diff, changed_fields
from agentevo.memory.tables import MemoryCommitRow, MemoryHistoryRow, unpack
from agentevo.records import Experience

State = dict[str, tuple[dict[str, Any], bytes]]  # item id → (Experience JSON, vector bytes)


def log(s: Session, limit: int | None = None) -> list[CommitInfo]:
    q = select(MemoryCommitRow).order_by(MemoryCommitRow.seq.desc())  # type: ignore[attr-defined]
    if limit:
        q = q.limit(limit)
    return [CommitInfo.of(r) for r in s.exec(q)]


def resolve_commit(s: Session, ref: str, where: str) -> CommitInfo:
    """A commit by id, unique id prefix, HEAD or HEAD~N; MemoryStoreError when there is none."""
    ref = ref.strip()
    match = re.fullmatch(r"(?i)head(?:~(\d+))?", ref)
    if match:
        back = int(match.group(1) or 0)
        q = select(MemoryCommitRow).order_by(MemoryCommitRow.seq.desc()).offset(back).limit(1)  # type: ignore[attr-defined]
        rows = list(s.exec(q))
    else:
        row = s.get(MemoryCommitRow, ref)
        rows = [row] if row is not None else []
        if not rows and len(ref) >= 4 and re.fullmatch(r"\w+", ref):
            q = select(MemoryCommitRow).where(MemoryCommitRow.id.startswith(ref)).limit(2)  # type: ignore[attr-defined]
            rows = list(s.exec(q))
            if len(rows) > 1:
                raise MemoryStoreError(f"commit prefix {ref!r} is ambiguous")
    if not rows:
        raise MemoryStoreError(f"no commit {ref!r} in the memory store {where}")
    return CommitInfo.of(rows[0])


def state_at(s: Session, seq: int) -> State:
    """Every live item just after the commit with this sequence number: each item's latest version."""
    h = MemoryHistoryRow
    latest = (
        select(h.item_id, func.max(h.seq).label("m"))  # type: ignore[arg-type]
        .where(h.seq <= seq)
        .group_by(h.item_id)  # type: ignore[arg-type]
        .subquery()
    )
    q = select(h).join(latest, and_(h.item_id == latest.c.item_id, h.seq == latest.c.m))  # type: ignore[arg-type]
    return {r.item_id: (r.data, r.vector or b"") for r in s.exec(q) if r.data is not None}


def diff(a: CommitInfo, b: CommitInfo, sa: State, sb: State) -> Diff:
    out = Diff(a=a.id, b=b.id)
    for item_id in sorted(set(sa) | set(sb)):
        if item_id not in sa:
            out.added.append(Experience.model_validate(sb[item_id][0]))
        elif item_id not in sb:
            out.removed.append(Experience.model_validate(sa[item_id][0]))
        elif sa[item_id][0] != sb[item_id][0]:
            before, after = sa[item_id][0], sb[item_id][0]
            out.changed.append(
                (
                    Experience.model_validate(before),
                    Experience.model_validate(after),
                    changed_fields(before, after),
                )
            )
    return out


def restore(target: State, current: Mapping[str, dict[str, Any]]) -> list[Change]:
    """The changes that make the live items (`current`, id → JSON) exactly `target`: each item restored
    verbatim — words, stats, trust, version and the commit that wrote it — with its recorded vector."""
    changes = [Change("restore", i, None) for i in sorted(set(current) - set(target))]
    for item_id, (data, vector) in sorted(target.items()):
        if current.get(item_id) != data:
            exp = Experience.model_validate(data)
            changes.append(Change("restore", item_id, exp, vector=unpack(vector) if vector else None))
    return changes
