"""The experience store: a SQL ledger of commits (the truth) with an in-memory matrix and a Chroma index.

    changes ──► apply() ──► one SQL transaction: commit row + history rows + live items   (acknowledged here)
                        └─► then the vector table and the Chroma index, and the index's `head` = the commit

One writer per workspace holds `writer.lock` (a file lock) for as long as the store is open; a second
writer waits up to `lock_timeout_s` and then gets a clear error. Readers take no lock: they read SQL (WAL)
and search with numpy, catching up with the writer's commits by sequence number; only the writer opens
Chroma, and repairs it when it does (sync.py). Every change is part of a commit (id, parent, time,
source, source run, operations), so `log`, `diff` and `rollback` (history.py) work on the whole store; a
rollback is itself a commit that restores the items exactly as they were, so the history loses nothing.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from sqlalchemy import delete, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from agentevo.errors import MemoryStoreError
from agentevo.memory import history, search, sync, trust
from agentevo.memory.changes import (
    Change,
    CommitInfo,
    Diff,
    as_json,
    attrs_of,
    collapse,
    embed_text,
    item_row,
    new_id,
    op_summary,
)
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
from agentevo.memory.transfer import read_export, write_export
from agentevo.memory.vectors import Spec, VectorTable
from agentevo.protocols import Embedder
from agentevo.records import Experience, utcnow

log = logging.getLogger(__name__)

STORE_DIR = "memory_store"
LOCK_FILE = "writer.lock"
SCREENED_OPS = {"add", "update", "merge", "import"}
IN_BATCH = 500  # ids per `IN (…)` query

__all__ = ["STORE_DIR", "Change", "CommitInfo", "Diff", "ExperienceStore", "embed_text", "new_id"]


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

    # --- opening --------------------------------------------------------------------------------------
    def __init__(
        self,
        root: Path,
        *,
        url: str | None = None,
        embedder: Embedder | str | None = None,
        writer: bool = True,
        lock_timeout_s: float = 10.0,
        use_index: bool = True,
        numpy_max_rows: int = search.NUMPY_MAX_ROWS,
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
        self.index_opened: dict[str, Any] = {}  # what opening the index found and did (probe, wipe, repair)
        if writer:
            self._file_lock = acquire_writer_lock(self.root, lock_timeout_s)
        try:
            self.engine = make_engine(self.url)
            create_tables(self.engine)
            self._check_schema()
            self.embedder_name, self.embedder = self._resolve_embedder(embedder)
            if writer:  # judged now, before any commit moves the head on
                self._index_clean = sync.read_clean_mark(self.root) == sync.clean_mark(
                    self.root, self.head_id()
                )
        except SQLAlchemyError as exc:
            self.close()
            raise MemoryStoreError(
                f"cannot open the memory store {safe_url(self.url)}: {first_line(exc)}"
            ) from None
        except BaseException:
            self.close()
            raise

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
                    sync.write_clean_mark(self.root, head)
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

    # --- reading --------------------------------------------------------------------------------------
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
            with self.session() as s:  # the JSON only: vectors stay on disk
                for start in range(0, len(missing), IN_BATCH):
                    part = missing[start : start + IN_BATCH]
                    q = select(MemoryItemRow.id, MemoryItemRow.data).where(MemoryItemRow.id.in_(part))  # type: ignore[call-overload,attr-defined]
                    found.update((i, Experience.model_validate(data)) for i, data in s.exec(q))
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

    def rollback(self, commit_id: str, *, source_run: str = "") -> CommitInfo | None:
        """Make the live items exactly what they were just after `commit_id` (a new commit says so)."""
        self._require_writer()
        target = self.resolve_commit(commit_id)
        with self._lock, self.session() as s:
            current = {r.id: r.data for r in s.exec(select(MemoryItemRow))}
            changes = history.restore(history.state_at(s, target.seq), current)
        return self.apply(
            changes, message=f"rollback to {target.id}", source="rollback", source_run=source_run
        )

    # --- the MemoryStore protocol: stage, then commit -------------------------------------------------
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

    # --- writing --------------------------------------------------------------------------------------
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

    # --- the vector table and the index ---------------------------------------------------------------
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
        (self.root / sync.CLEAN_MARK).unlink(missing_ok=True)  # a crash from here on leaves it unmarked
        folder = self.root / sync.INDEX_DIR
        started, existed = time.perf_counter(), folder.exists()
        try:
            index = open_index(folder, clean=clean)
            repaired = sync.sync_index(self.session, index, head, thorough=not clean)
        except Exception as exc:
            raise MemoryStoreError(f"cannot open the memory index {folder}: {first_line(exc)}") from None
        self.index_opened = {"probed": existed and not clean, "wiped": index.wiped, **repaired}
        self.index_opened["seconds"] = round(time.perf_counter() - started, 3)
        return index

    def reindex(self, *, embedder: Embedder | str | None = None) -> dict[str, Any]:
        """Rebuild the Chroma index from SQL; with a new embedder, re-embed every item and version first."""
        self._require_writer()
        with self._lock:
            reembedded = self._reembed(embedder) if embedder is not None else 0
            self._drop_index()
            shutil.rmtree(self.root / sync.INDEX_DIR, ignore_errors=True)
            (self.root / sync.CLEAN_MARK).unlink(missing_ok=True)
            self._index_clean, self._table = False, None
            index = self.index()
            return {"items": index.count() if index else 0, "head": self.head_id(), "reembedded": reembedded}

    def _reembed(self, embedder: Embedder | str) -> int:
        """New vectors for every item and every recorded version (so a rollback restores usable ones)."""
        name = embedder if isinstance(embedder, str) else embedder_name(embedder)
        fn = load_named(embedder) if isinstance(embedder, str) else embedder
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
        self.embedder_name, self.embedder = name, fn
        return len(items)

    # --- search ---------------------------------------------------------------------------------------
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
        spec = search.filter_spec(scope, filter, include_quarantined)
        try:
            hits = self.nearest(vector, k, spec)
            found = self.get_many([i for i, _ in hits])
        except SQLAlchemyError as exc:
            raise MemoryStoreError(
                f"memory search failed ({safe_url(self.url)}): {first_line(exc)}"
            ) from None
        return [(found[i], score) for i, score in hits if i in found]

    def nearest(self, vector: np.ndarray, k: int, spec: Spec) -> list[tuple[str, float]]:
        """Ids and scores of the k nearest items a filter admits, by the faster path (search.py)."""
        if self.use_index and self.writer:
            self.index()  # opening repairs the index, whichever path this query takes
        with self._lock:
            table = self.table()
            try:
                return search.nearest(table, self._index, vector, k, spec, numpy_max_rows=self.numpy_max_rows)
            except Exception as exc:  # a broken index must not break retrieval: numpy answers alone
                if self._index is None:
                    raise
                log.warning("memory index query failed (%s); searching with numpy", exc)
                self._drop_index()
                return search.nearest(table, None, vector, k, spec)

    # --- import / export --------------------------------------------------------------------------------
    def export(self, path: Path) -> int:
        """Every live item as JSON lines, written atomically (the file is the old one or the new one)."""
        return write_export(self.items(), path)

    def import_file(self, path: Path, *, source_run: str = "") -> CommitInfo | None:
        """Items from a JSON-lines export, as one commit; a malformed line rejects the whole file."""
        items = read_export(path)
        changes = [Change("import", e.id, e) for e in items]
        message = f"import {path.name} ({len(items)} items)"
        return self.apply(changes, message=message, source="import", source_run=source_run)

    # --- summary --------------------------------------------------------------------------------------
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


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
