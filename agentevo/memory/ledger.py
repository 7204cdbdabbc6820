"""The memory ledger: the SQL side of the experience store, and its source of truth.

Live items, the linear commit log, every version an item had and the store's metadata (schema, embedder,
dimension) live in SQL (tables.py); this class reads them, writes one commit per transaction, and answers
the history questions (log, commit references, state at a commit, diff, what a rollback must change).
It knows nothing of Chroma or of the in-memory vector table: those are derived (vector_index.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from agentevo.db import make_engine
from agentevo.errors import MemoryStoreError
from agentevo.memory import history
from agentevo.memory.changes import (
    Change,
    CommitInfo,
    Diff,
    as_json,
    embed_text,
    item_row,
    new_id,
    op_summary,
    stamped,
)
from agentevo.memory.embedders import embed_unit, named
from agentevo.memory.tables import (
    SCHEMA_VERSION,
    MemoryCommitRow,
    MemoryHistoryRow,
    MemoryItemRow,
    MemoryMetaRow,
    create_tables,
    pack,
)
from agentevo.memory.vectors import FIELDS
from agentevo.protocols import Embedder
from agentevo.records import Experience
from agentevo.text import first_line

if TYPE_CHECKING:
    import numpy as np

IN_BATCH = 500  # ids per `IN (…)` query


class Ledger:
    """Reads and commits of the SQL tables; items read are cached until a commit changes them."""

    def __init__(self, root: Path, url: str, *, writer: bool, lock: threading.RLock) -> None:
        self.root, self.url, self.writer, self.lock = root, url, writer, lock
        self.cache: dict[str, Experience] = {}
        # synchronous=FULL: an acknowledged commit survives power loss too, not only a crash of the process.
        self.engine = make_engine(url, synchronous="FULL")
        try:
            create_tables(self.engine)
            self.check_schema()
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- metadata ---------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MemoryMetaRow, key)
        return None if row is None else row.value

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self.session() as s:
            for k, v in values.items():
                s.merge(MemoryMetaRow(key=k, value=v))
            s.commit()

    def check_schema(self) -> None:
        version = self.meta("schema")
        if version is None and self.writer:
            self.set_meta({"schema": SCHEMA_VERSION})
        elif version is not None and version != SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the memory store {self.root} has schema {version}; "
                f"this agentevo reads schema {SCHEMA_VERSION}"
            )

    def embedder_for(self, embedder: Embedder | str | None) -> tuple[str, Embedder]:
        """The embedder to use: the one recorded unless another is asked for, and never another one over
        vectors the recorded one made."""
        recorded = self.meta("embedder")
        if embedder is None:
            return named(recorded or "minilm")
        name, fn = named(embedder)
        if recorded is not None and recorded != name and self.count() > 0:
            raise MemoryStoreError(
                f"the memory store {self.root} holds {recorded} embeddings, not {name}: "
                f"open it with --embedder {recorded}, "
                f"or re-embed with `agentevo memory reindex --embedder {name}`"
            )
        if recorded != name and self.writer:
            self.set_meta({"embedder": name})
        return name, fn

    def check_dim(self, vectors: Iterable[np.ndarray]) -> None:
        dims = {len(v) for v in vectors}
        recorded = self.meta("dim")
        if recorded is None and dims:
            self.set_meta({"dim": str(dims.pop())})
            recorded = self.meta("dim")
        if recorded is not None and any(d != int(recorded) for d in dims):
            raise MemoryStoreError(f"vectors of {sorted(dims)} dimensions in a {recorded}-dimensional store")

    # --- items ------------------------------------------------------------------------------------------
    def count(self) -> int:
        with self.session() as s:
            return int(s.exec(select(func.count()).select_from(MemoryItemRow)).one())  # type: ignore[arg-type]

    def head(self) -> MemoryCommitRow | None:
        with self.session() as s:
            return s.exec(select(MemoryCommitRow).order_by(MemoryCommitRow.seq.desc()).limit(1)).first()  # type: ignore[attr-defined]

    def head_id(self) -> str:
        row = self.head()
        return row.id if row else ""

    def get(self, id: str) -> Experience | None:
        with self.lock:
            hit = self.cache.get(id)
        if hit is not None:
            return hit
        with self.session() as s:
            row = s.get(MemoryItemRow, id)
        if row is None:
            return None
        exp = Experience.model_validate(row.data)
        with self.lock:
            self.cache[id] = exp
        return exp

    def get_many(self, ids: Sequence[str]) -> dict[str, Experience]:
        found = {i: e for i in ids if (e := self.cache.get(i)) is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            with self.session() as s:  # the JSON only: vectors stay on disk
                for start in range(0, len(missing), IN_BATCH):
                    part = missing[start : start + IN_BATCH]
                    q = select(MemoryItemRow.id, MemoryItemRow.data).where(MemoryItemRow.id.in_(part))  # type: ignore[call-overload,attr-defined]
                    found.update((i, Experience.model_validate(data)) for i, data in s.exec(q))
            with self.lock:
                self.cache.update({i: found[i] for i in missing if i in found})
        return found

    def forget(self, ids: Iterable[str]) -> None:
        """Drop cached items that a commit (ours or another process's) has changed."""
        for item_id in ids:
            self.cache.pop(item_id, None)

    def resolve_item(self, ref: str) -> Experience:
        """An item by id or unique id prefix; MemoryStoreError when there is none or several."""
        exp = self.get(ref)
        if exp is not None:
            return exp
        if len(ref) >= 4 and re.fullmatch(r"[\w-]+", ref):
            with self.session() as s:
                ids = list(s.exec(select(MemoryItemRow.id).where(MemoryItemRow.id.startswith(ref)).limit(2)))  # type: ignore[attr-defined]
            if len(ids) == 1:
                return self.get(ids[0])  # type: ignore[return-value]
            if len(ids) > 1:
                raise MemoryStoreError(f"memory item prefix {ref!r} is ambiguous")
        raise MemoryStoreError(f"no memory item {ref!r} in {self.root}")

    def items(
        self,
        *,
        kind: str | None = None,
        trust_level: str | None = None,
        suite: str | None = None,
        template: str | None = None,
    ) -> list[Experience]:
        with self.session() as s:
            q = select(MemoryItemRow)
            if kind:
                q = q.where(MemoryItemRow.kind == kind)
            if trust_level:
                q = q.where(MemoryItemRow.trust == trust_level)
            if suite:
                q = q.where(MemoryItemRow.suite == suite)
            if template:
                q = q.where(MemoryItemRow.template == template)
            rows = list(s.exec(q))
        items = [Experience.model_validate(r.data) for r in rows]
        return sorted(items, key=lambda e: (e.created_at, e.id))

    def current_rows(self, ids: Sequence[str]) -> dict[str, MemoryItemRow]:
        found: dict[str, MemoryItemRow] = {}
        with self.session() as s:
            for start in range(0, len(ids), IN_BATCH):  # SQL caps the parameters of one statement
                part = list(ids[start : start + IN_BATCH])
                found.update(
                    (r.id, r) for r in s.exec(select(MemoryItemRow).where(MemoryItemRow.id.in_(part)))
                )  # type: ignore[attr-defined]
        return found

    def live_vectors(self) -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
        """Every live item's id, vector and filter attributes (what the vector table is loaded from)."""
        import numpy as np

        cols = (MemoryItemRow.id, MemoryItemRow.vector, *(getattr(MemoryItemRow, f) for f in FIELDS))
        with self.session() as s:
            rows = list(s.exec(select(*cols).order_by(MemoryItemRow.id)))  # type: ignore[call-overload]
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32), []
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        attrs = [dict(zip(FIELDS, r[2:], strict=True)) for r in rows]
        return [r[0] for r in rows], vectors, attrs

    def written_since(self, seq: int) -> dict[str, MemoryHistoryRow]:
        """The newest version of every item written by a commit after `seq` (data None = deleted)."""
        with self.session() as s:
            q = select(MemoryHistoryRow).where(MemoryHistoryRow.seq > seq).order_by(MemoryHistoryRow.seq)  # type: ignore[arg-type]
            return {r.item_id: r for r in s.exec(q)}

    # --- committing -------------------------------------------------------------------------------------
    def write(
        self,
        changes: Sequence[Change],
        final: Sequence[Change],
        vectors: Mapping[str, np.ndarray],
        existing: set[str],
        *,
        message: str,
        source: str,
        source_run: str,
    ) -> CommitInfo:
        """One transaction: the commit row, a history row per item and the live items it changes."""
        cid = new_id()
        try:
            with self.session() as s:
                head = s.exec(select(MemoryCommitRow).order_by(MemoryCommitRow.seq.desc()).limit(1)).first()  # type: ignore[attr-defined]
                seq = (head.seq if head else 0) + 1
                row = MemoryCommitRow(
                    id=cid,
                    seq=seq,
                    parent=head.id if head else None,
                    message=message,
                    source=source,
                    source_run=source_run,
                    ops=[op_summary(c) for c in changes],
                )
                s.add(row)
                for c in final:
                    after = stamped(c, cid)
                    blob = pack(vectors[c.id]) if after is not None else None
                    data = as_json(after) if after is not None else None
                    s.add(MemoryHistoryRow(seq=seq, item_id=c.id, op=c.op, data=data, vector=blob))
                    if after is None:
                        s.exec(delete(MemoryItemRow).where(MemoryItemRow.id == c.id))  # type: ignore[call-overload,arg-type]
                    elif c.id in existing:
                        s.merge(item_row(after, blob or b"", seq))
                    else:
                        s.add(item_row(after, blob or b"", seq))
                s.commit()
        except SQLAlchemyError as exc:
            raise MemoryStoreError(f"memory commit failed, nothing written: {first_line(exc)}") from None
        self.forget(c.id for c in final)
        return CommitInfo(cid, seq, row.parent, row.created_at, message, source, source_run, row.ops)

    def reembed(self, embedder: Embedder | str) -> tuple[str, Embedder, int]:
        """New vectors for every item and every recorded version (so a rollback restores usable ones)."""
        name, fn = named(embedder)
        with self.session() as s:
            items = list(s.exec(select(MemoryItemRow)))
            versions = list(s.exec(select(MemoryHistoryRow).where(MemoryHistoryRow.data.is_not(None))))  # type: ignore[union-attr]
            texts = [embed_text(Experience.model_validate(r.data)) for r in (*items, *versions)]
            mat = embed_unit(fn, texts)
            for row, vec in zip((*items, *versions), mat, strict=True):
                row.vector = pack(vec)
                s.add(row)
            dim = str(mat.shape[1]) if texts else str(len(embed_unit(fn, ["dimension probe"])[0]))
            for k, v in {"embedder": name, "dim": dim}.items():
                s.merge(MemoryMetaRow(key=k, value=v))
            s.commit()
        return name, fn, len(items)

    # --- history ----------------------------------------------------------------------------------------
    def log(self, limit: int | None = None) -> list[CommitInfo]:
        with self.session() as s:
            return history.log(s, limit)

    def resolve_commit(self, ref: str) -> CommitInfo:
        """A commit by id, unique id prefix, HEAD or HEAD~N; MemoryStoreError when there is none."""
        with self.session() as s:
            return history.resolve_commit(s, ref, str(self.root))

    def state_at(self, ref: str) -> history.State:
        """Every live item (JSON, vector) just after a commit."""
        seq = self.resolve_commit(ref).seq
        with self.session() as s:
            return history.state_at(s, seq)

    def diff(self, a: str, b: str) -> Diff:
        ca, cb = self.resolve_commit(a), self.resolve_commit(b)
        with self.session() as s:
            return history.diff(ca, cb, history.state_at(s, ca.seq), history.state_at(s, cb.seq))

    def restore(self, target: CommitInfo) -> list[Change]:
        """The changes that make the live items exactly what they were just after `target`."""
        with self.session() as s:
            current = {r.id: r.data for r in s.exec(select(MemoryItemRow))}
            return history.restore(history.state_at(s, target.seq), current)
