"""What the memory ledger is made of: a staged Change, the CommitInfo that records a batch of them, a Diff
between two commits, and how an Experience becomes a row (its embedding text and filter attributes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentevo.memory.tables import MemoryCommitRow, MemoryItemRow
from agentevo.records import Experience

if TYPE_CHECKING:
    import numpy as np


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def embed_text(exp: Experience) -> str:
    """What an item is found by: its words, plus the first demonstrated request (a template's instance)."""
    first = next((str(m.get("content", "")) for m in exp.demonstration if m.get("role") == "user"), "")
    return "\n".join(p for p in (exp.title, exp.description, exp.content, first[:1000]) if p)


def attrs_of(exp: Experience) -> dict[str, str]:
    return {
        "kind": exp.kind,
        "trust": exp.trust,
        "suite": exp.scope.suite,
        "site": exp.scope.site,
        "template": exp.scope.template,
    }


def as_json(exp: Experience) -> dict[str, Any]:
    return exp.model_dump(mode="json")


@dataclass(frozen=True)
class Change:
    """One staged change: `after` is the item's new state (None = deleted)."""

    op: str  # add | update | merge | delete | usage | decay | approve | restore | import
    id: str
    after: Experience | None
    note: str = ""
    vector: np.ndarray | None = None  # known already (restore, import of a vector): no re-embedding


@dataclass(frozen=True)
class CommitInfo:
    id: str
    seq: int
    parent: str | None
    created_at: datetime
    message: str
    source: str
    source_run: str
    ops: list[dict[str, Any]]

    @classmethod
    def of(cls, row: MemoryCommitRow) -> CommitInfo:
        return cls(
            row.id,
            row.seq,
            row.parent,
            row.created_at,
            row.message,
            row.source,
            row.source_run,
            list(row.ops),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "parent": self.parent,
            "created_at": self.created_at.isoformat(),
            "message": self.message,
            "source": self.source,
            "source_run": self.source_run,
            "ops": self.ops,
        }


@dataclass
class Diff:
    a: str
    b: str
    added: list[Experience] = field(default_factory=list)
    removed: list[Experience] = field(default_factory=list)
    changed: list[tuple[Experience, Experience, list[str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "added": [as_json(e) for e in self.added],
            "removed": [as_json(e) for e in self.removed],
            "changed": [{"before": as_json(x), "after": as_json(y), "fields": f} for x, y, f in self.changed],
        }


def changed_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def collapse(changes: Sequence[Change]) -> list[Change]:
    """One change per item (its last), in first-seen order: a commit writes one version of each item."""
    last: dict[str, Change] = {}
    for c in changes:
        last[c.id] = c
    return list(last.values())


def op_summary(c: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"op": c.op, "id": c.id}
    if c.after is not None:
        out["kind"] = c.after.kind
        out["title"] = c.after.title[:120]
    if c.note:
        out["note"] = c.note
    return out


def stamped(change: Change, commit_id: str) -> Experience | None:
    """The item as a commit writes it: marked with the commit, unless it is restored exactly as it was."""
    after = change.after
    if after is not None and change.op != "restore":
        after = after.model_copy(update={"commit_id": commit_id})
    return after


def item_row(exp: Experience, vector: bytes, seq: int) -> MemoryItemRow:
    return MemoryItemRow(
        id=exp.id,
        kind=exp.kind,
        trust=exp.trust,
        suite=exp.scope.suite,
        site=exp.scope.site,
        template=exp.scope.template,
        seq=seq,
        data=as_json(exp),
        vector=vector,
    )


def row_attrs(r: MemoryItemRow) -> dict[str, str]:
    return {"kind": r.kind, "trust": r.trust, "suite": r.suite, "site": r.site, "template": r.template}
