"""The derived side of the experience store: what searches read, rebuilt from the ledger whenever needed.

Two structures follow the ledger's commits. The in-memory VectorTable (vectors.py) is what every process
searches with numpy; a reader loads it on first use and catches up with the writer's commits by sequence
number. The Chroma index (index.py) is opened by the writer only, probed and repaired against SQL when it
was not closed cleanly (sync.py), updated after each commit, and marked clean on close. A failure of the
index never loses anything: the ledger has the commit, and the index is dropped and rebuilt later.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentevo.errors import MemoryStoreError
from agentevo.memory import search, sync
from agentevo.memory.changes import CommitInfo, attrs_of
from agentevo.memory.ledger import Ledger
from agentevo.memory.tables import unpack
from agentevo.memory.vectors import Spec, VectorTable
from agentevo.records import Experience
from agentevo.text import first_line

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

Stamped = Sequence[tuple[str, Experience | None]]  # item id → the item a commit wrote (None = deleted)


class VectorIndex:
    """The vector table and the Chroma index of one store, kept in step with its ledger."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        use_index: bool,
        numpy_max_rows: int,
        probe_dim: Callable[[], int],
    ) -> None:
        self.ledger, self.root, self.writer, self.lock = ledger, ledger.root, ledger.writer, ledger.lock
        self.use_index, self.numpy_max_rows, self.probe_dim = use_index, numpy_max_rows, probe_dim
        self._table: VectorTable | None = None
        self._seq = 0  # the commit the vector table reflects
        self._chroma: Any = None
        self.opened: dict[str, Any] = {}  # what opening the index found and did (probe, wipe, repair)
        self.clean = False  # judged now, before any commit moves the head on
        if self.writer:
            self.clean = sync.read_clean_mark(self.root) == sync.clean_mark(self.root, ledger.head_id())

    # --- the vector table -------------------------------------------------------------------------------
    def table(self) -> VectorTable:
        """The in-memory vector table, loaded on first use and caught up with commits made elsewhere."""
        with self.lock:
            if self.writer and self._table is not None:
                return self._table  # nobody else commits while we hold the writer lock
            head = self.ledger.head()
            head_seq = head.seq if head else 0
            if self._table is None:
                self._table, self._seq = self.load_table(), head_seq
            elif head_seq != self._seq:
                self.catch_up(self._table, head_seq)
            return self._table

    def load_table(self) -> VectorTable:
        recorded = self.ledger.meta("dim")
        table = VectorTable(int(recorded) if recorded is not None else self.probe_dim())
        ids, vectors, attrs = self.ledger.live_vectors()
        if ids:
            table.load(ids, vectors, attrs)
        return table

    def catch_up(self, table: VectorTable, head_seq: int) -> None:
        """Apply commits after the table's to it (a reader following a writer), newest version per item."""
        for item_id, r in self.ledger.written_since(self._seq).items():
            self.ledger.forget([item_id])
            if r.data is None:
                table.remove(item_id)
            else:
                table.upsert(item_id, unpack(r.vector or b""), attrs_of(Experience.model_validate(r.data)))
        self._seq = head_seq

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        table = self.table()
        with self.lock:
            return {i: v for i in ids if (v := table.vector(i)) is not None}

    # --- the Chroma index -------------------------------------------------------------------------------
    def chroma(self) -> Any:
        """The Chroma index, opened (and repaired) on first use by the writer; None for readers."""
        if not (self.use_index and self.writer):
            return None
        with self.lock:
            if self._chroma is None:
                self._chroma = self.open_chroma()
            return self._chroma

    def open_chroma(self) -> Any:
        from agentevo.memory.index import open_index

        head, clean = self.ledger.head_id(), self.clean
        (self.root / sync.CLEAN_MARK).unlink(missing_ok=True)  # a crash from here on leaves it unmarked
        folder = self.root / sync.INDEX_DIR
        started, existed = time.perf_counter(), folder.exists()
        try:
            index = open_index(folder, clean=clean)
            repaired = sync.sync_index(self.ledger.session, index, head, thorough=not clean)
        except Exception as exc:
            raise MemoryStoreError(f"cannot open the memory index {folder}: {first_line(exc)}") from None
        self.opened = {"probed": existed and not clean, "wiped": index.wiped, **repaired}
        self.opened["seconds"] = round(time.perf_counter() - started, 3)
        return index

    def drop_chroma(self) -> None:
        if self._chroma is not None:
            self._chroma.close()
            self._chroma = None

    def rebuild(self) -> Any:
        """Delete the Chroma folder and build it again from SQL; the vector table reloads when next used."""
        self.drop_chroma()
        shutil.rmtree(self.root / sync.INDEX_DIR, ignore_errors=True)
        (self.root / sync.CLEAN_MARK).unlink(missing_ok=True)
        self.clean, self._table = False, None
        return self.chroma()

    def close(self) -> None:
        """Close the Chroma index, marking it clean when it reflects the ledger's head."""
        if self._chroma is None:
            return
        index, self._chroma = self._chroma, None
        try:
            head = index.head
            in_step = head == self.ledger.head_id()
        except Exception:  # a broken index is simply not marked clean
            in_step = False
        index.close()
        if in_step:
            sync.write_clean_mark(self.root, head)

    # --- following commits ------------------------------------------------------------------------------
    def after_commit(self, info: CommitInfo, stamped: Stamped, vectors: Mapping[str, np.ndarray]) -> None:
        if self._table is not None and self._seq == info.seq - 1:
            for item_id, after in stamped:
                if after is None:
                    self._table.remove(item_id)
                else:
                    self._table.upsert(item_id, vectors[item_id], attrs_of(after))
            self._seq = info.seq
        else:
            self._table = None  # someone else committed in between: reload when next needed
        self.update_chroma(info.id, stamped, vectors)

    def update_chroma(self, head: str, stamped: Stamped, vectors: Mapping[str, np.ndarray]) -> None:
        import numpy as np

        if not self.use_index:
            return
        try:
            index = self.chroma()
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
            self.drop_chroma()

    # --- searching --------------------------------------------------------------------------------------
    def nearest(self, vector: np.ndarray, k: int, spec: Spec) -> list[tuple[str, float]]:
        """Ids and scores of the k nearest items a filter admits, by the faster path (search.py)."""
        if self.use_index and self.writer:
            self.chroma()  # opening repairs the index, whichever path this query takes
        with self.lock:
            table = self.table()
            try:
                return search.nearest(
                    table, self._chroma, vector, k, spec, numpy_max_rows=self.numpy_max_rows
                )
            except Exception as exc:  # a broken index must not break retrieval: numpy answers alone
                if self._chroma is None:
                    raise
                log.warning("memory index query failed (%s); searching with numpy", exc)
                self.drop_chroma()
                return search.nearest(table, None, vector, k, spec)
