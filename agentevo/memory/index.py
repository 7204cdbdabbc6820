"""The Chroma index of the memory ledger: derived from SQL, rebuildable, and opened defensively.

Chroma's PersistentClient is not process-safe, and a kill -9 in the middle of a flush can leave an HNSW
segment that makes the loader segfault or hang instead of raising (chroma #421, #7238). So only the
writer process opens it; a folder that was not closed cleanly is first loaded and queried by a child
process (`agentevo.memory.probe`) under a timeout, so a crash or a hang kills the child, not us; a folder
that fails the probe is deleted and rebuilt from SQL. Vectors always come from the ledger: the collection
is created with `embedding_function=None`, so Chroma never loads (or downloads) a model of its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

COLLECTION = "agentevo-memory"
PROBE_TIMEOUT_S = 120.0


def probe(path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Load and query the index in a child process; None when it works, else why it does not."""
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agentevo.memory.probe", str(path)],
            capture_output=True,
            timeout=timeout_s,
            text=True,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"loading it hung for {timeout_s:g} s"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
        return f"loading it failed (exit {done.returncode}) {tail}".strip()
    return None


def settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


class ChromaIndex:
    """One collection of (id, vector, filter metadata); its metadata `head` names the commit it reflects."""

    def __init__(self, path: Path) -> None:
        import chromadb

        self.path = path
        self.client = chromadb.PersistentClient(path=str(path), settings=settings())
        self.collection = self._collection()
        self.max_batch = int(getattr(self.client, "get_max_batch_size", lambda: 4096)()) or 4096
        self.wiped: str | None = None  # why open_index had to delete the folder first, if it did

    def _collection(self) -> Any:
        return self.client.get_or_create_collection(
            COLLECTION,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"head": ""},
        )

    @property
    def head(self) -> str:
        return str((self.collection.metadata or {}).get("head", ""))

    def set_head(self, commit_id: str) -> None:
        self.collection.modify(metadata={"head": commit_id})

    def count(self) -> int:
        return int(self.collection.count())

    def ids(self) -> set[str]:
        ids: set[str] = set()
        offset, page = 0, 10_000
        while True:
            got = self.collection.get(include=[], limit=page, offset=offset)["ids"]
            ids.update(got)
            if len(got) < page:
                return ids
            offset += page

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, str]]) -> None:
        step = min(self.max_batch, 4096)
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=list(ids[i : i + step]),
                embeddings=vectors[i : i + step],
                metadatas=[dict(m) for m in metadatas[i : i + step]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        step = min(self.max_batch, 4096)
        for i in range(0, len(ids), step):
            self.collection.delete(ids=list(ids[i : i + step]))

    def query(
        self, vector: np.ndarray, n: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        if n <= 0:
            return []
        got = self.collection.query(
            query_embeddings=[vector],
            n_results=n,
            where=dict(where) if where else None,
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0], strict=True)]

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a broken client must not hide why it broke
            log.debug("closing the chroma client raised", exc_info=True)


def open_index(path: Path, *, clean: bool) -> ChromaIndex:
    """Open the index folder; probe it first in a child unless it was closed cleanly; wipe it if it fails."""
    reason = probe(path) if path.exists() and not clean else None
    if reason is not None:
        log.warning("memory index %s is unreadable (%s): rebuilding it from SQL", path, reason)
        shutil.rmtree(path, ignore_errors=True)
    try:
        index = ChromaIndex(path)
    except Exception as exc:  # a folder the probe passed but that still will not open
        reason = f"would not open ({exc})"
        log.warning("memory index %s %s: rebuilding it from SQL", path, reason)
        shutil.rmtree(path, ignore_errors=True)
        index = ChromaIndex(path)
    index.wiped = reason
    return index


def dump_probe_result(path: Path) -> dict[str, Any]:
    """What the probe child does: open, count, load the HNSW segment with one query."""
    import chromadb

    client = chromadb.PersistentClient(path=str(path), settings=settings())
    col = client.get_collection(COLLECTION, embedding_function=None)
    n = col.count()
    if n:
        first = col.get(limit=1, include=["embeddings"])["embeddings"]
        dim = len(first[0])
        col.query(query_embeddings=[np.ones(dim, dtype=np.float32) / np.sqrt(dim)], n_results=min(n, 3))
    return {"count": n, "head": (col.metadata or {}).get("head", "")}


def probe_main(argv: Sequence[str]) -> int:
    result = dump_probe_result(Path(argv[0]))
    print(json.dumps(result), flush=True)
    return 0
