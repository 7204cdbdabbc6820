"""The experience store: a SQL ledger of commits (the truth) with an in-memory matrix and a Chroma index.

    changes ──► apply() ──► one SQL transaction: commit row + history rows + live items   (acknowledged here)
                        └─► then the vector table and the Chroma index, and the index's `head` = the commit

One writer per workspace holds `writer.lock` (a file lock) for as long as the store is open; a second
writer waits up to `lock_timeout_s` and then gets a clear error. Readers take no lock: they read SQL (WAL)
and search with numpy, catching up with the writer's commits by sequence number; only the writer opens
Chroma. At open the writer compares the index with SQL (head commit, count, id sets) and repairs it:
missing, unreadable or out of step, it is rebuilt from the vectors kept in SQL, never re-embedded.

Every change is part of a commit (id, parent, time, source, source run, operations), so `log`, `diff`
and `rollback` work on the whole store; a rollback is itself a commit that restores the items exactly as
they were (content, stats, trust, version), so nothing is ever lost from the history.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from pydantic import ValidationError
from sqlalchemy import and_, delete, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from agentevo.errors import ConfigError, MemoryStoreError
from agentevo.memory import trust
from agentevo.memory.embedders import embed_unit, embedder_name, load_named
from agentevo.memory.tables import (
    SCHEMA_VERSION,
    MemoryCommitRow,
    MemoryHistoryRow,
    MemoryItemRow,
    MemoryMetaRow,
    create_tables,
    make_engine,
    pack,
    unpack,
)
from agentevo.memory.vectors import Spec, VectorTable, make_spec
from agentevo.protocols import Embedder
from agentevo.records import Experience, utcnow

log = logging.getLogger(__name__)

STORE_DIR = "memory_store"
LOCK_FILE = "writer.lock"
CLEAN_MARK = "index.clean"
INDEX_DIR = "chroma"
NUMPY_MAX_ROWS = 20_000  # below this a (filtered) numpy scan beats a Chroma query; bench/memory_search.py
SCREENED_OPS = {"add", "update", "merge", "import"}
RETRIEVABLE = ("trusted", "untrusted")
IN_BATCH = 500  # ids per `IN (…)` query
TIE_SLACK = 4  # extra candidates fetched so that ties at the k-th place are broken the same way every time


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


def acquire_writer_lock(root: Path, timeout_s: float) -> FileLock:
    lock = FileLock(str(root / LOCK_FILE), thread_local=False)
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise MemoryStoreError(
            f"the memory store {root} is being written by another process (it holds {LOCK_FILE}); "
            f"waited {timeout_s:g} s"
        ) from None
    return lock


class ExperienceStore:
    """The MemoryStore of agentevo (see the module docstring); thread-safe within one process."""

    def __init__(
        self,
        root: Path,
        *,
        url: str | None = None,
        embedder: Embedder | str | None = None,
        writer: bool = True,
        lock_timeout_s: float = 10.0,
        use_index: bool = True,
        numpy_max_rows: int = NUMPY_MAX_ROWS,
    ) -> None:
        self.root = Path(root)
        self.writer = writer
        self.use_index = use_index
        self.numpy_max_rows = numpy_max_rows
        self.url = url or f"sqlite:///{self.root / 'memory.db'}"
        self._lock = threading.RLock()
        self._file_lock: FileLock | None = None
        self._table: VectorTable | None = None
        self._seq = 0  # the commit the vector table reflects
        self._index: Any = None
        self._cache: dict[str, Experience] = {}
        self._staged = threading.local()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(f"cannot create the memory store {self.root}: {exc.strerror}") from None
        self._index_clean = False
        if writer:
            self._file_lock = acquire_writer_lock(self.root, lock_timeout_s)
        try:
            self.engine = make_engine(self.url)
            create_tables(self.engine)
            self._check_schema()
            self.embedder_name, self.embedder = self._resolve_embedder(embedder)
            if writer:  # judged now, before any commit moves the head on
                self._index_clean = read_clean_mark(self.root) == clean_mark(self.root, self.head_id())
        except SQLAlchemyError as exc:
            self.close()
            raise MemoryStoreError(
                f"cannot open the memory store {safe_url(self.url)}: {first_line(exc)}"
            ) from None
        except BaseException:
            self.close()
            raise

    # --- opening ----------------------------------------------------------------------------------------
    @classmethod
    def for_workspace(
        cls,
        workspace: Path,
        *,
        url: str | None = None,
        embedder: Embedder | str | None = None,
        mode: str = "write",
        lock_timeout_s: float = 10.0,
        **kwargs: Any,
    ) -> ExperienceStore:
        """mode `write` waits for the writer lock; `read` takes none; `auto` writes when the lock is free."""
        root = Path(workspace) / STORE_DIR
        if mode == "auto":
            try:
                return cls(root, url=url, embedder=embedder, writer=True, lock_timeout_s=0.2, **kwargs)
            except MemoryStoreError as exc:
                if "being written" not in str(exc):
                    raise
                mode = "read"
        return cls(
            root, url=url, embedder=embedder, writer=mode == "write", lock_timeout_s=lock_timeout_s, **kwargs
        )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MemoryMetaRow, key)
        return None if row is None else row.value

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self.session() as s:
            for k, v in values.items():
                s.merge(MemoryMetaRow(key=k, value=v))
            s.commit()

    def _check_schema(self) -> None:
        version = self.meta("schema")
        if version is None and self.writer:
            self.set_meta({"schema": SCHEMA_VERSION})
        elif version is not None and version != SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the memory store {self.root} has schema {version}; "
                f"this agentevo reads schema {SCHEMA_VERSION}"
            )

    def _resolve_embedder(self, embedder: Embedder | str | None) -> tuple[str, Embedder]:
        recorded = self.meta("embedder")
        if embedder is None:
            name = recorded or "minilm"
            return name, load_named(name)
        name = embedder if isinstance(embedder, str) else embedder_name(embedder)
        fn = load_named(embedder) if isinstance(embedder, str) else embedder
        if recorded is not None and recorded != name and self.count() > 0:
            raise MemoryStoreError(
                f"the memory store {self.root} holds {recorded} embeddings, not {name}: "
                f"open it with --embedder {recorded}, "
                f"or re-embed with `agentevo memory reindex --embedder {name}`"
            )
        if recorded != name and self.writer:
            self.set_meta({"embedder": name})
        return name, fn

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                index, self._index = self._index, None
                try:
                    head = index.head
                    in_step = head == self.head_id()
                except Exception:  # a broken index is simply not marked clean
                    in_step = False
                index.close()
                if in_step:
                    write_clean_mark(self.root, head)
            if getattr(self, "engine", None) is not None:
                self.engine.dispose()
            if self._file_lock is not None:
                self._file_lock.release()
                self._file_lock = None

    def __enter__(self) -> ExperienceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_writer(self) -> None:
        if not self.writer or self._file_lock is None:
            raise MemoryStoreError(
                f"the memory store {self.root} is open read-only (another process writes it)"
            )

    # --- reading ----------------------------------------------------------------------------------------
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
        with self._lock:
            hit = self._cache.get(id)
        if hit is not None:
            return hit
        with self.session() as s:
            row = s.get(MemoryItemRow, id)
        if row is None:
            return None
        exp = Experience.model_validate(row.data)
        with self._lock:
            self._cache[id] = exp
        return exp

    def get_many(self, ids: Sequence[str]) -> dict[str, Experience]:
        found = {i: e for i in ids if (e := self._cache.get(i)) is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            for row in self._current_rows(missing).values():
                found[row.id] = Experience.model_validate(row.data)
            with self._lock:
                self._cache.update({i: found[i] for i in missing if i in found})
        return found

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

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        table = self.table()
        with self._lock:
            return {i: v for i in ids if (v := table.vector(i)) is not None}

    # --- commits ----------------------------------------------------------------------------------------
    def log(self, limit: int | None = None) -> list[CommitInfo]:
        with self.session() as s:
            q = select(MemoryCommitRow).order_by(MemoryCommitRow.seq.desc())  # type: ignore[attr-defined]
            if limit:
                q = q.limit(limit)
            return [CommitInfo.of(r) for r in s.exec(q)]

    def resolve_commit(self, ref: str) -> CommitInfo:
        """A commit by id, unique id prefix, HEAD or HEAD~N; MemoryStoreError when there is none."""
        ref = ref.strip()
        match = re.fullmatch(r"(?i)head(?:~(\d+))?", ref)
        with self.session() as s:
            if match:
                back = int(match.group(1) or 0)
                q = select(MemoryCommitRow).order_by(MemoryCommitRow.seq.desc()).offset(back).limit(1)  # type: ignore[attr-defined]
                rows = list(s.exec(q))
            else:
                row = s.get(MemoryCommitRow, ref)
                rows = [row] if row is not None else []
                if not rows and len(ref) >= 4 and re.fullmatch(r"\w+", ref):
                    q2 = select(MemoryCommitRow).where(MemoryCommitRow.id.startswith(ref)).limit(2)  # type: ignore[attr-defined]
                    rows = list(s.exec(q2))
                    if len(rows) > 1:
                        raise MemoryStoreError(f"commit prefix {ref!r} is ambiguous")
        if not rows:
            raise MemoryStoreError(f"no commit {ref!r} in the memory store {self.root}")
        return CommitInfo.of(rows[0])

    def state_at(self, ref: str) -> dict[str, tuple[dict[str, Any], bytes]]:
        """Every live item (JSON, vector) just after a commit, from the history."""
        seq = self.resolve_commit(ref).seq
        return self._state_at_seq(seq)

    def _state_at_seq(self, seq: int) -> dict[str, tuple[dict[str, Any], bytes]]:
        h = MemoryHistoryRow
        latest = (
            select(h.item_id, func.max(h.seq).label("m"))  # type: ignore[arg-type]
            .where(h.seq <= seq)
            .group_by(h.item_id)  # type: ignore[arg-type]
            .subquery()
        )
        q = select(h).join(latest, and_(h.item_id == latest.c.item_id, h.seq == latest.c.m))  # type: ignore[arg-type]
        with self.session() as s:
            return {r.item_id: (r.data, r.vector or b"") for r in s.exec(q) if r.data is not None}

    def diff(self, a: str, b: str) -> Diff:
        ca, cb = self.resolve_commit(a), self.resolve_commit(b)
        sa, sb = self._state_at_seq(ca.seq), self._state_at_seq(cb.seq)
        out = Diff(a=ca.id, b=cb.id)
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

    # --- the MemoryStore protocol: stage, then commit ---------------------------------------------------
    def staged(self) -> list[Change]:
        if not hasattr(self._staged, "changes"):
            self._staged.changes = []
        return self._staged.changes

    def add(self, experiences: Sequence[Experience]) -> list[str]:
        self.staged().extend(Change("add", e.id, e) for e in experiences)
        return [e.id for e in experiences]

    def update(self, experience: Experience) -> None:
        self.staged().append(Change("update", experience.id, experience))

    def delete(self, id: str) -> None:
        self.staged().append(Change("delete", id, None))

    def commit(self, message: str = "", *, source: str = "api", source_run: str = "") -> str:
        changes, self._staged.changes = self.staged(), []
        info = self.apply(changes, message=message, source=source, source_run=source_run)
        return info.id if info else self.head_id()

    def rollback(self, commit_id: str, *, source_run: str = "") -> CommitInfo | None:
        """Make the live items exactly what they were just after `commit_id` (a new commit says so)."""
        self._require_writer()
        target_commit = self.resolve_commit(commit_id)
        with self._lock:
            target = self._state_at_seq(target_commit.seq)
            with self.session() as s:
                current = {r.id: r.data for r in s.exec(select(MemoryItemRow))}
            changes = [Change("restore", i, None) for i in sorted(set(current) - set(target))]
            for item_id, (data, vector) in sorted(target.items()):
                if current.get(item_id) != data:
                    exp = Experience.model_validate(data)
                    changes.append(Change("restore", item_id, exp, vector=unpack(vector) if vector else None))
            return self.apply(
                changes, message=f"rollback to {target_commit.id}", source="rollback", source_run=source_run
            )

    # --- writing ----------------------------------------------------------------------------------------
    def apply(
        self, changes: Sequence[Change], *, message: str = "", source: str = "", source_run: str = ""
    ) -> CommitInfo | None:
        """Write a batch of changes as one commit; None when there is nothing to change."""
        self._require_writer()
        if not changes:
            return None
        if self.use_index:
            self.index()  # opened (and repaired) against the state before this commit
        with self._lock:
            final = collapse(changes)
            before = self._current_rows([c.id for c in final])
            final = [self._prepare(c, before.get(c.id)) for c in final]
            vectors = self._vectors_for(final, before)
            info = self._write_sql(
                changes, final, vectors, set(before), message=message, source=source, source_run=source_run
            )
            self._after_commit(info, final, vectors)
        return info

    def _current_rows(self, ids: Sequence[str]) -> dict[str, MemoryItemRow]:
        found: dict[str, MemoryItemRow] = {}
        with self.session() as s:
            for start in range(0, len(ids), IN_BATCH):  # SQL caps the parameters of one statement
                part = list(ids[start : start + IN_BATCH])
                found.update(
                    (r.id, r) for r in s.exec(select(MemoryItemRow).where(MemoryItemRow.id.in_(part)))
                )  # type: ignore[attr-defined]
        return found

    def _prepare(self, change: Change, before: MemoryItemRow | None) -> Change:
        """Screen new text for injected orders; stamp versions; a restore keeps the item exactly."""
        after = change.after
        if after is None or change.op == "restore":
            return change
        if change.op in SCREENED_OPS:
            after = trust.screen(after)
        update: dict[str, Any] = {"updated_at": utcnow()}
        if before is not None:
            old = Experience.model_validate(before.data)
            content_changed = embed_text(old) != embed_text(after) or old.demonstration != after.demonstration
            update["version"] = old.version + 1 if content_changed else old.version
            update["created_at"] = old.created_at
        return Change(change.op, change.id, after.model_copy(update=update), change.note, change.vector)

    def _vectors_for(
        self, changes: Sequence[Change], before: Mapping[str, MemoryItemRow]
    ) -> dict[str, np.ndarray]:
        vectors: dict[str, np.ndarray] = {}
        to_embed: list[Change] = []
        for c in changes:
            if c.after is None:
                continue
            old = before.get(c.id)
            if c.vector is not None:
                vectors[c.id] = np.asarray(c.vector, dtype=np.float32)
            elif (
                old is not None
                and old.vector
                and embed_text(Experience.model_validate(old.data)) == embed_text(c.after)
            ):
                vectors[c.id] = unpack(old.vector)
            else:
                to_embed.append(c)
        if to_embed:
            mat = embed_unit(self.embedder, [embed_text(c.after) for c in to_embed])  # type: ignore[arg-type]
            vectors.update({c.id: mat[i] for i, c in enumerate(to_embed)})
        self._check_dim(vectors.values())
        return vectors

    def _check_dim(self, vectors: Iterable[np.ndarray]) -> None:
        dims = {len(v) for v in vectors}
        recorded = self.meta("dim")
        if recorded is None and dims:
            self.set_meta({"dim": str(dims.pop())})
            recorded = self.meta("dim")
        if recorded is not None and any(d != int(recorded) for d in dims):
            raise MemoryStoreError(f"vectors of {sorted(dims)} dimensions in a {recorded}-dimensional store")

    def _write_sql(
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
                    after = c.after
                    if after is not None and c.op != "restore":
                        after = after.model_copy(update={"commit_id": cid})
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
        return CommitInfo(cid, seq, row.parent, row.created_at, message, source, source_run, row.ops)

    def _after_commit(
        self, info: CommitInfo, final: Sequence[Change], vectors: Mapping[str, np.ndarray]
    ) -> None:
        stamped: list[tuple[str, Experience | None]] = []
        for c in final:
            after = c.after
            if after is not None and c.op != "restore":
                after = after.model_copy(update={"commit_id": info.id})
            stamped.append((c.id, after))
            self._cache.pop(c.id, None)
        if self._table is not None and self._seq == info.seq - 1:
            for item_id, after in stamped:
                if after is None:
                    self._table.remove(item_id)
                else:
                    self._table.upsert(item_id, vectors[item_id], attrs_of(after))
            self._seq = info.seq
        else:
            self._table = None  # someone else committed in between: reload when next needed
        self._update_index(info.id, stamped, vectors)

    def _update_index(
        self, head: str, stamped: Sequence[tuple[str, Experience | None]], vectors: Mapping[str, np.ndarray]
    ) -> None:
        if not self.use_index:
            return
        try:
            index = self.index()
            if index is None:
                return
            gone = [i for i, after in stamped if after is None]
            kept = [(i, after) for i, after in stamped if after is not None]
            if gone:
                index.delete(gone)
            if kept:
                ids = [i for i, _ in kept]
                index.upsert(ids, np.stack([vectors[i] for i in ids]), [attrs_of(a) for _, a in kept])  # type: ignore[arg-type]
            index.set_head(head)
        except Exception as exc:  # the ledger has the commit; the index is repaired at the next open
            log.warning("memory index update failed (%s); it will be rebuilt from SQL", exc)
            self._drop_index()

    def _drop_index(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # --- the vector table and the index ------------------------------------------------------------------
    def table(self) -> VectorTable:
        """The in-memory vector table, loaded on first use and caught up with commits made elsewhere."""
        with self._lock:
            if self.writer and self._table is not None:
                return self._table  # nobody else commits while we hold the writer lock
            head = self.head()
            head_seq = head.seq if head else 0
            if self._table is None:
                self._table, self._seq = self._load_table(), head_seq
            elif head_seq != self._seq:
                self._catch_up(head_seq)
            return self._table

    def _dim(self) -> int:
        recorded = self.meta("dim")
        if recorded is not None:
            return int(recorded)
        return len(embed_unit(self.embedder, ["dimension probe"])[0])

    def _load_table(self) -> VectorTable:
        table = VectorTable(self._dim())
        cols = (
            MemoryItemRow.id,
            MemoryItemRow.vector,
            MemoryItemRow.kind,
            MemoryItemRow.trust,
            MemoryItemRow.suite,
            MemoryItemRow.site,
            MemoryItemRow.template,
        )
        with self.session() as s:
            rows = list(s.exec(select(*cols).order_by(MemoryItemRow.id)))  # type: ignore[call-overload]
        if rows:
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            attrs = [
                dict(zip(("kind", "trust", "suite", "site", "template"), r[2:], strict=True)) for r in rows
            ]
            table.load([r[0] for r in rows], vectors, attrs)
        return table

    def _catch_up(self, head_seq: int) -> None:
        """Apply commits after the table's to it (a reader following a writer), newest version per item."""
        assert self._table is not None
        with self.session() as s:
            q = (
                select(MemoryHistoryRow)
                .where(MemoryHistoryRow.seq > self._seq)
                .order_by(MemoryHistoryRow.seq)
            )  # type: ignore[arg-type]
            latest = {r.item_id: r for r in s.exec(q)}
        for item_id, r in latest.items():
            self._cache.pop(item_id, None)
            if r.data is None:
                self._table.remove(item_id)
            else:
                self._table.upsert(
                    item_id, unpack(r.vector or b""), attrs_of(Experience.model_validate(r.data))
                )
        self._seq = head_seq

    def index(self) -> Any:
        """The Chroma index, opened (and repaired) on first use by the writer; None for readers."""
        if not (self.use_index and self.writer):
            return None
        with self._lock:
            if self._index is None:
                self._index = self._open_index()
            return self._index

    def _open_index(self) -> Any:
        from agentevo.memory.index import open_index

        head, clean = self.head_id(), self._index_clean
        (self.root / CLEAN_MARK).unlink(missing_ok=True)  # a crash from here on leaves it unmarked: probed
        try:
            index = open_index(self.root / INDEX_DIR, clean=clean)
            self.sync_index(index, head, thorough=not clean)
        except Exception as exc:
            raise MemoryStoreError(
                f"cannot open the memory index {self.root / INDEX_DIR}: {first_line(exc)}"
            ) from None
        return index

    def sync_index(self, index: Any, head: str, *, thorough: bool) -> dict[str, int]:
        """Bring the index in step with SQL: upsert the missing and the changed, delete extras."""
        with self.session() as s:
            sql_ids = set(s.exec(select(MemoryItemRow.id)))  # type: ignore[call-overload]
        if index.head == head and index.count() == len(sql_ids) and not thorough:
            return {"upserted": 0, "deleted": 0}
        chroma_ids = index.ids()
        stale = self._changed_since(index.head) & sql_ids
        extra = sorted(chroma_ids - sql_ids)
        todo = sorted((sql_ids - chroma_ids) | stale)
        if extra:
            index.delete(extra)
        self._upsert_from_sql(index, todo)
        index.set_head(head)
        if extra or todo:
            log.info("memory index brought in step: %d upserted, %d deleted", len(todo), len(extra))
        return {"upserted": len(todo), "deleted": len(extra)}

    def _changed_since(self, commit_id: str) -> set[str]:
        if not commit_id:
            with self.session() as s:
                return set(s.exec(select(MemoryItemRow.id)))  # type: ignore[call-overload]
        with self.session() as s:
            row = s.get(MemoryCommitRow, commit_id)
            if row is None:  # an index from some other ledger: everything is suspect
                return set(s.exec(select(MemoryItemRow.id)))  # type: ignore[call-overload]
            q = select(MemoryHistoryRow.item_id).where(MemoryHistoryRow.seq > row.seq)  # type: ignore[call-overload]
            return set(s.exec(q))

    def _upsert_from_sql(self, index: Any, ids: Sequence[str], batch: int = 4096) -> None:
        for start in range(0, len(ids), batch):
            part = ids[start : start + batch]
            with self.session() as s:
                rows = list(s.exec(select(MemoryItemRow).where(MemoryItemRow.id.in_(part))))  # type: ignore[attr-defined]
            if rows:
                vectors = np.stack([unpack(r.vector) for r in rows])
                index.upsert([r.id for r in rows], vectors, [row_attrs(r) for r in rows])

    def reindex(self, *, embedder: Embedder | str | None = None) -> dict[str, Any]:
        """Rebuild the Chroma index from SQL; with a new embedder, re-embed every item and version first."""
        self._require_writer()
        import shutil

        with self._lock:
            reembedded = 0
            if embedder is not None:
                reembedded = self._reembed(embedder)
            self._drop_index()
            shutil.rmtree(self.root / INDEX_DIR, ignore_errors=True)
            (self.root / CLEAN_MARK).unlink(missing_ok=True)
            self._table = None
            index = self.index()
            return {"items": index.count() if index else 0, "head": self.head_id(), "reembedded": reembedded}

    def _reembed(self, embedder: Embedder | str) -> int:
        name = embedder if isinstance(embedder, str) else embedder_name(embedder)
        fn = load_named(embedder) if isinstance(embedder, str) else embedder
        with self.session() as s:
            items = list(s.exec(select(MemoryItemRow)))
            history = list(s.exec(select(MemoryHistoryRow).where(MemoryHistoryRow.data.is_not(None))))  # type: ignore[union-attr]
            texts = [embed_text(Experience.model_validate(r.data)) for r in items]
            texts += [embed_text(Experience.model_validate(h.data)) for h in history]
            mat = embed_unit(fn, texts)
            for i, r in enumerate(items):
                r.vector = pack(mat[i])
                s.add(r)
            for j, h in enumerate(history):
                h.vector = pack(mat[len(items) + j])
                s.add(h)
            for k, v in {"embedder": name, "dim": str(mat.shape[1] if len(texts) else self._dim())}.items():
                s.merge(MemoryMetaRow(key=k, value=v))
            s.commit()
        self.embedder_name, self.embedder = name, fn
        return len(items)

    # --- search -----------------------------------------------------------------------------------------
    def embed_query(self, text: str) -> np.ndarray:
        return embed_unit(self.embedder, [text])[0]

    def search(
        self,
        query: str,
        *,
        scope: Mapping[str, str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        include_quarantined: bool = False,
    ) -> list[tuple[Experience, float]]:
        """The k items nearest the query (cosine), among those the scope and filter admit.

        scope {suite, site, template}: an item matches when its own value is equal or empty (global).
        filter {kind|trust: value or list}. Quarantined items are never returned unless asked for.
        """
        return self.search_vector(
            self.embed_query(query), scope=scope, k=k, filter=filter, include_quarantined=include_quarantined
        )

    def search_vector(
        self,
        vector: np.ndarray,
        *,
        scope: Mapping[str, str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        include_quarantined: bool = False,
    ) -> list[tuple[Experience, float]]:
        spec = filter_spec(scope, filter, include_quarantined)
        hits = self.nearest(vector, k, spec)
        found = self.get_many([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found]

    def nearest(self, vector: np.ndarray, k: int, spec: Spec) -> list[tuple[str, float]]:
        """Pick the faster exact-enough path per query: numpy over the filtered subset when it is small or
        selective, Chroma's unfiltered HNSW (over-fetched, then filtered here) when it is large and broad."""
        if self.use_index and self.writer:
            self.index()  # opening repairs the index, whichever path this query takes
        with self._lock:
            table = self.table()
            n_all, n_sub = len(table), table.count(spec)
            if n_sub == 0 or k <= 0:
                return []
            if self._index is not None and n_sub > self.numpy_max_rows and n_sub * 2 >= n_all:
                hits = self._chroma_nearest(vector, k + TIE_SLACK, spec, n_sub, n_all)
                if hits is not None:
                    return best_first(hits, k)
            return best_first(table.search(np.asarray(vector, dtype=np.float32), k + TIE_SLACK, spec), k)

    def _chroma_nearest(
        self, vector: np.ndarray, k: int, spec: Spec, n_sub: int, n_all: int
    ) -> list[tuple[str, float]] | None:
        assert self._table is not None
        fetch = min(n_all, math.ceil(k * n_all / n_sub) + k)
        try:
            got = self._index.query(vector, fetch)
        except Exception as exc:
            log.warning("memory index query failed (%s); searching with numpy", exc)
            self._drop_index()
            return None
        hits = [(i, s) for i, s in got if self._table.admits(i, spec)][:k]
        return hits if len(hits) == min(k, n_sub) or len(got) == n_all else None

    # --- import / export --------------------------------------------------------------------------------
    def export(self, path: Path) -> int:
        """Every live item as JSON lines; written to a temporary file, synced, then renamed (old or new)."""
        items = self.items()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as f:
                for exp in items:
                    f.write(exp.model_dump_json() + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MemoryStoreError(f"cannot write {path}: {exc.strerror}") from None
        return len(items)

    def import_file(self, path: Path, *, source_run: str = "") -> CommitInfo | None:
        """Items from a JSON-lines export, as one commit; a malformed line rejects the whole file."""
        items = read_export(path)
        changes = [Change("import", e.id, e) for e in items]
        return self.apply(
            changes,
            message=f"import {path.name} ({len(items)} items)",
            source="import",
            source_run=source_run,
        )

    # --- summary ----------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        items = self.items()
        by: dict[str, dict[str, int]] = {"kind": {}, "trust": {}, "suite": {}}
        for e in items:
            for key, value in (("kind", e.kind), ("trust", e.trust), ("suite", e.scope.suite or "(any)")):
                by[key][value] = by[key].get(value, 0) + 1
        head = self.head()
        return {
            "root": str(self.root),
            "url": safe_url(self.url),
            "items": len(items),
            **by,
            "retrieved": sum(e.stats.retrieved for e in items),
            "helped": sum(e.stats.helped for e in items),
            "hurt": sum(e.stats.hurt for e in items),
            "commits": head.seq if head else 0,
            "head": head.id if head else "",
            "embedder": self.embedder_name,
            "dim": int(self.meta("dim") or 0),
            "writer": self.writer,
        }


def best_first(hits: Sequence[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """Best score first; equal scores (to 6 places) by id, so that the same store always answers the same."""
    return sorted(hits, key=lambda h: (-round(h[1], 6), h[0]))[:k]


def clean_mark(root: Path, head: str) -> dict[str, Any]:
    """What a cleanly closed index looks like: its head and the size and mtime of every file in it, so
    that a folder touched after the close (a crash of something else, a damaged disk) is probed again."""
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


def filter_spec(
    scope: Mapping[str, str] | None, filter: Mapping[str, Any] | None, include_quarantined: bool = False
) -> Spec:
    allowed: dict[str, list[str]] = {}
    for key, value in (scope or {}).items():
        if value:
            allowed[key] = [value, ""]  # an item with an empty scope field applies everywhere
    for key, value in (filter or {}).items():
        allowed[key] = [value] if isinstance(value, str) else list(value)
    if not include_quarantined:
        levels = allowed.get("trust", list(RETRIEVABLE))
        allowed["trust"] = [t for t in levels if t != "quarantined"]
    try:
        return make_spec(allowed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def read_export(path: Path) -> list[Experience]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MemoryStoreError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise MemoryStoreError(f"{path}: not UTF-8 text") from None
    items: list[Experience] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(Experience.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise MemoryStoreError(f"{path}:{n}: not an experience item ({where}: {err['msg']})") from None
    return items


@contextlib.contextmanager
def opened(workspace: Path, **kwargs: Any) -> Iterator[ExperienceStore]:
    store = ExperienceStore.for_workspace(workspace, **kwargs)
    try:
        yield store
    finally:
        store.close()


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
