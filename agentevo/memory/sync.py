"""Keeping the Chroma index in step with the ledger, and knowing when it needs checking at all.

The writer closing cleanly leaves `index.clean`: the head commit plus the size and mtime of every file in
the index folder. A writer that finds the mark matching skips the child-process probe; anything else — a
crash, a folder touched since, a head that moved — means the folder is probed, then compared with SQL
(ids, head) and repaired: the ids missing or changed since the index's head are upserted from the vectors
kept in SQL, the extras deleted. Nothing is ever re-embedded to repair an index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from agentevo.memory.changes import row_attrs
from agentevo.memory.tables import MemoryCommitRow, MemoryHistoryRow, MemoryItemRow, unpack

log = logging.getLogger(__name__)

CLEAN_MARK = "index.clean"
INDEX_DIR = "chroma"
BATCH = 4096


def clean_mark(root: Path, head: str) -> dict[str, Any]:
    """What a cleanly closed index looks like: its head and the size and mtime of every file in it."""
    files = {}
    folder = root / INDEX_DIR
    for path in sorted(folder.rglob("*")) if folder.exists() else []:
        if path.is_file():
            st = path.stat()
            files[str(path.relative_to(folder))] = [st.st_size, st.st_mtime_ns]
    return {"head": head, "files": files}


def write_clean_mark(root: Path, head: str) -> None:
    (root / CLEAN_MARK).write_text(json.dumps(clean_mark(root, head)))


def read_clean_mark(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / CLEAN_MARK).read_text())
    except (OSError, ValueError):
        return None


def sync_index(session: Callable[[], Session], index: Any, head: str, *, thorough: bool) -> dict[str, int]:
    """Bring the index in step with SQL: upsert the missing and the changed, delete extras."""
    with session() as s:
        sql_ids = set(s.exec(select(MemoryItemRow.id)))  # type: ignore[call-overload]
    if index.head == head and index.count() == len(sql_ids) and not thorough:
        return {"upserted": 0, "deleted": 0}
    chroma_ids = index.ids()
    stale = changed_since(session, index.head) & sql_ids
    extra = sorted(chroma_ids - sql_ids)
    todo = sorted((sql_ids - chroma_ids) | stale)
    if extra:
        index.delete(extra)
    upsert_from_sql(session, index, todo)
    index.set_head(head)
    if extra or todo:
        log.info("memory index brought in step: %d upserted, %d deleted", len(todo), len(extra))
    return {"upserted": len(todo), "deleted": len(extra)}


def changed_since(session: Callable[[], Session], commit_id: str) -> set[str]:
    """Ids of items written after a commit (all of them when the commit is unknown to this ledger)."""
    with session() as s:
        row = s.get(MemoryCommitRow, commit_id) if commit_id else None
        if row is None:
            return set(s.exec(select(MemoryItemRow.id)))  # type: ignore[call-overload]
        q = select(MemoryHistoryRow.item_id).where(MemoryHistoryRow.seq > row.seq)  # type: ignore[call-overload]
        return set(s.exec(q))


def upsert_from_sql(session: Callable[[], Session], index: Any, ids: Sequence[str]) -> None:
    import numpy as np

    for start in range(0, len(ids), BATCH):
        part = list(ids[start : start + BATCH])
        with session() as s:
            rows = list(s.exec(select(MemoryItemRow).where(MemoryItemRow.id.in_(part))))  # type: ignore[attr-defined]
        if rows:
            vectors = np.stack([unpack(r.vector) for r in rows])
            index.upsert([r.id for r in rows], vectors, [row_attrs(r) for r in rows])
