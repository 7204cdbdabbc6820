"""The experience store: a SQL ledger of commits (the truth) with an in-memory matrix and a Chroma index.

    changes ──► apply() ──► one SQL transaction: commit row + history rows + live items   (acknowledged here)
                        └─► then the vector table and the Chroma index, and the index's `head` = the commit

One writer per workspace holds `writer.lock` (a file lock) for as long as the store is open; a second
writer waits up to `lock_timeout_s` and then gets a clear error. Readers take no lock: they read SQL (WAL)
and search with numpy, catching up with the writer's commits by sequence number; only the writer opens
Chroma, and repairs it when it does (sync.py). Every change is part of a commit (id, parent, time,
source, source run, operations), so `log`, `diff` and `rollback` (history.py) work on the whole store; a
rollback is itself a commit that restores the items exactly as they were, so the history loses nothing.

ExperienceStore is a thin facade with the public API; the work is done by
    ledger.py        Ledger — SQL: items, commits, history, metadata, the read cache
    vector_index.py  VectorIndex — the vector table and the Chroma index, following the ledger
    prepare.py       screening, version stamps and vectors for the changes of one commit
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from agentevo.errors import MemoryStoreError
from agentevo.memory import history, search
from agentevo.memory.changes import Change, CommitInfo, Diff, collapse, embed_text, new_id, stamped
from agentevo.memory.embedders import embed_unit
from agentevo.memory.ledger import Ledger
from agentevo.memory.prepare import prepare, vectors_for
from agentevo.memory.tables import MemoryCommitRow
from agentevo.memory.transfer import read_export, write_export
from agentevo.memory.vector_index import VectorIndex
from agentevo.memory.vectors import Spec, VectorTable
from agentevo.protocols import Embedder
from agentevo.records import Experience
from agentevo.text import first_line, safe_url

if TYPE_CHECKING:  # numpy and the file lock load when a search or a writer needs them
    import numpy as np
    from filelock import FileLock

STORE_DIR = "memory_store"
LOCK_FILE = "writer.lock"

__all__ = ["STORE_DIR", "Change", "CommitInfo", "Diff", "ExperienceStore", "embed_text", "new_id"]


def acquire_writer_lock(root: Path, timeout_s: float) -> FileLock:
    from filelock import FileLock, Timeout

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
    """The experience memory of agentevo (see the module docstring); thread-safe within one process."""

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
        self._staged = threading.local()
        self.ledger: Ledger | None = None
        self.vector_index: VectorIndex | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(f"cannot create the memory store {self.root}: {exc.strerror}") from None
        if writer:
            self._file_lock = acquire_writer_lock(self.root, lock_timeout_s)
        try:
            self.ledger = Ledger(self.root, self.url, writer=writer, lock=self._lock)
            self.embedder_name, self.embedder = self.ledger.embedder_for(embedder)
            self.vector_index = VectorIndex(
                self.ledger, use_index=use_index, numpy_max_rows=numpy_max_rows, probe_dim=self._probe_dim
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

    def _probe_dim(self) -> int:
        return len(embed_unit(self.embedder, ["dimension probe"])[0])

    @property
    def engine(self) -> Any:
        return self._ledger.engine

    @property
    def index_opened(self) -> dict[str, Any]:
        """What opening the Chroma index found and did (probe, wipe, repair); empty until it is opened."""
        return self._vectors.opened

    @property
    def _ledger(self) -> Ledger:
        assert self.ledger is not None, "the store is not open"
        return self.ledger

    @property
    def _vectors(self) -> VectorIndex:
        assert self.vector_index is not None, "the store is not open"
        return self.vector_index

    def session(self) -> Session:
        return self._ledger.session()

    def meta(self, key: str) -> str | None:
        return self._ledger.meta(key)

    def set_meta(self, values: Mapping[str, str]) -> None:
        self._ledger.set_meta(values)

    def close(self) -> None:
        with self._lock:
            if self.vector_index is not None:
                self.vector_index.close()
            if self.ledger is not None:
                self.ledger.close()
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

    # --- reading (the ledger) ---------------------------------------------------------------------------
    def count(self) -> int:
        return self._ledger.count()

    def head(self) -> MemoryCommitRow | None:
        return self._ledger.head()

    def head_id(self) -> str:
        return self._ledger.head_id()

    def get(self, id: str) -> Experience | None:
        return self._ledger.get(id)

    def get_many(self, ids: Sequence[str]) -> dict[str, Experience]:
        return self._ledger.get_many(ids)

    def resolve_item(self, ref: str) -> Experience:
        """An item by id or unique id prefix; MemoryStoreError when there is none or several."""
        return self._ledger.resolve_item(ref)

    def items(
        self,
        *,
        kind: str | None = None,
        trust_level: str | None = None,
        suite: str | None = None,
        template: str | None = None,
    ) -> list[Experience]:
        return self._ledger.items(kind=kind, trust_level=trust_level, suite=suite, template=template)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self._vectors.vectors(ids)

    # --- history (the ledger) ---------------------------------------------------------------------------
    def log(self, limit: int | None = None) -> list[CommitInfo]:
        return self._ledger.log(limit)

    def resolve_commit(self, ref: str) -> CommitInfo:
        """A commit by id, unique id prefix, HEAD or HEAD~N; MemoryStoreError when there is none."""
        return self._ledger.resolve_commit(ref)

    def state_at(self, ref: str) -> history.State:
        """Every live item (JSON, vector) just after a commit."""
        return self._ledger.state_at(ref)

    def diff(self, a: str, b: str) -> Diff:
        return self._ledger.diff(a, b)

    def rollback(self, commit_id: str, *, source_run: str = "") -> CommitInfo | None:
        """Make the live items exactly what they were just after `commit_id` (a new commit says so)."""
        self._require_writer()
        target = self.resolve_commit(commit_id)
        with self._lock:
            changes = self._ledger.restore(target)
        return self.apply(
            changes, message=f"rollback to {target.id}", source="rollback", source_run=source_run
        )

    # --- staging, then one commit ----------------------------------------------------------------------
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
        ledger = self._ledger
        with self._lock:
            final = collapse(changes)
            before = ledger.current_rows([c.id for c in final])
            final = [prepare(c, before.get(c.id)) for c in final]
            vectors = vectors_for(final, before, self.embedder)
            ledger.check_dim(vectors.values())
            info = ledger.write(
                changes, final, vectors, set(before), message=message, source=source, source_run=source_run
            )
            self._vectors.after_commit(info, [(c.id, stamped(c, info.id)) for c in final], vectors)
        return info

    # --- the vector table and the index ---------------------------------------------------------------
    def table(self) -> VectorTable:
        """The in-memory vector table, loaded on first use and caught up with commits made elsewhere."""
        return self._vectors.table()

    def index(self) -> Any:
        """The Chroma index, opened (and repaired) on first use by the writer; None for readers."""
        return self._vectors.chroma()

    def reindex(self, *, embedder: Embedder | str | None = None) -> dict[str, Any]:
        """Rebuild the Chroma index from SQL; with a new embedder, re-embed every item and version first."""
        self._require_writer()
        with self._lock:
            reembedded = 0
            if embedder is not None:
                self.embedder_name, self.embedder, reembedded = self._ledger.reembed(embedder)
            index = self._vectors.rebuild()
            return {"items": index.count() if index else 0, "head": self.head_id(), "reembedded": reembedded}

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
        return self._vectors.nearest(vector, k, spec)

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
