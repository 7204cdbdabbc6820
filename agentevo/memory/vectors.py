"""Exact cosine search over the live items' vectors, held in memory as one float32 matrix, with filters.

Filtering is what makes vector databases slow here (Chroma's filtered HNSW measured 116–224 ms p50 at 100k
items against ~16 ms for a brute-force scan). In this table a filter is a boolean mask over small integer
code columns (kind, trust, suite, site, template), and the rows a filter selects are copied once into a
contiguous sub-matrix that stays cached until the next write, so a selective filter costs a scan of its
subset only. Vectors are unit length, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


FIELDS = ("kind", "trust", "suite", "site", "template")
SMALL_SCAN = 30_000  # rows
Spec = tuple[tuple[str, tuple[str, ...]], ...]  # (field, allowed values) pairs, sorted: a cache key


def make_spec(allowed: Mapping[str, Sequence[str]]) -> Spec:
    for name in allowed:
        if name not in FIELDS:
            raise ValueError(f"cannot filter on {name!r}: use one of {', '.join(FIELDS)}")
    return tuple(sorted((k, tuple(sorted(set(v)))) for k, v in allowed.items()))


@functools.cache
def blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """A matrix-vector product is too small to share: on a busy machine waking a second BLAS thread
    costs more than the product (measured on 5k×384: p95 12 ms with two threads, 0.7 ms with one)."""
    controller = blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


def blas_threads_for(rows: int) -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread for a small scan; a large one (100k rows: 21 ms with two threads against 34 ms with
    one, bench/memory_search.py) keeps the library's own setting."""
    return one_blas_thread() if rows <= SMALL_SCAN else contextlib.nullcontext()


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first."""
    import numpy as np

    if k <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    if scores.size > k:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")


class VectorTable:
    """Rows of (id, unit vector, filter codes); upsert and remove keep the matrix dense (swap-remove)."""

    def __init__(self, dim: int) -> None:
        import numpy as np

        self.dim = dim
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        self._mat = np.zeros((16, dim), dtype=np.float32)
        self._codes = {f: np.zeros(16, dtype=np.int32) for f in FIELDS}
        self._vocab: dict[str, dict[str, int]] = {f: {} for f in FIELDS}
        self._cache: dict[Spec, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def matrix(self) -> np.ndarray:
        return self._mat[: len(self.ids)]

    def code(self, field: str, value: str) -> int:
        vocab = self._vocab[field]
        return vocab.setdefault(value, len(vocab))

    def reserve(self, n: int) -> None:
        import numpy as np

        if n <= self._mat.shape[0]:
            return
        size = max(n, 2 * self._mat.shape[0])
        mat = np.zeros((size, self.dim), dtype=np.float32)
        mat[: len(self.ids)] = self.matrix
        self._mat = mat
        for f in FIELDS:
            codes = np.zeros(size, dtype=np.int32)
            codes[: len(self.ids)] = self._codes[f][: len(self.ids)]
            self._codes[f] = codes

    def load(self, ids: Sequence[str], vectors: np.ndarray, attrs: Sequence[Mapping[str, str]]) -> None:
        """Bulk upsert (the first load of a store)."""
        self.reserve(len(self.ids) + len(ids))
        for i, item_id in enumerate(ids):
            self.upsert(item_id, vectors[i], attrs[i])

    def upsert(self, item_id: str, vector: np.ndarray, attrs: Mapping[str, str]) -> None:
        if len(vector) != self.dim:
            raise ValueError(f"vector of {len(vector)} dimensions in a {self.dim}-dimensional table")
        pos = self.row.get(item_id)
        if pos is None:
            pos = len(self.ids)
            self.reserve(pos + 1)
            self.ids.append(item_id)
            self.row[item_id] = pos
        self._mat[pos] = vector
        for f in FIELDS:
            self._codes[f][pos] = self.code(f, attrs.get(f, ""))
        self._cache.clear()

    def remove(self, item_id: str) -> None:
        pos = self.row.pop(item_id, None)
        if pos is None:
            return
        last = len(self.ids) - 1
        if pos != last:  # move the last row into the hole
            moved = self.ids[last]
            self.ids[pos] = moved
            self.row[moved] = pos
            self._mat[pos] = self._mat[last]
            for f in FIELDS:
                self._codes[f][pos] = self._codes[f][last]
        self.ids.pop()
        self._cache.clear()

    def mask(self, spec: Spec) -> np.ndarray:
        import numpy as np

        n = len(self.ids)
        keep = np.ones(n, dtype=bool)
        for field, values in spec:
            vocab = self._vocab[field]
            codes = [vocab[v] for v in values if v in vocab]
            keep &= np.isin(self._codes[field][:n], codes)
        return keep

    def subset(self, spec: Spec) -> tuple[np.ndarray, np.ndarray]:
        """(row positions, their contiguous vectors) of the rows a filter selects; cached until a write."""
        import numpy as np

        hit = self._cache.get(spec)
        if hit is None:
            idx = np.flatnonzero(self.mask(spec))
            # a filter that keeps every row needs no copy: the matrix itself is contiguous
            hit = (idx, self.matrix if idx.size == len(self.ids) else np.ascontiguousarray(self.matrix[idx]))
            self._cache[spec] = hit
        return hit

    def count(self, spec: Spec) -> int:
        return len(self.ids) if not spec else len(self.subset(spec)[0])

    def admits(self, item_id: str, spec: Spec) -> bool:
        pos = self.row.get(item_id)
        if pos is None:
            return False
        for field, values in spec:
            vocab = self._vocab[field]
            if not any(vocab.get(v) == self._codes[field][pos] for v in values):
                return False
        return True

    def search(self, query: np.ndarray, k: int, spec: Spec = ()) -> list[tuple[str, float]]:
        if not spec:
            with blas_threads_for(len(self.ids)):
                scores = self.matrix @ query
            return [(self.ids[i], float(scores[i])) for i in top_k(scores, k)]
        idx, sub = self.subset(spec)
        with blas_threads_for(len(idx)):
            scores = sub @ query
        return [(self.ids[idx[i]], float(scores[i])) for i in top_k(scores, k)]

    def vector(self, item_id: str) -> np.ndarray | None:
        pos = self.row.get(item_id)
        return None if pos is None else self._mat[pos].copy()
