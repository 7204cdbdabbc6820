"""Named embedders, so that a store remembers which one built its vectors and reopens with the same one.

`minilm` is all-MiniLM-L6-v2 (384 dimensions, offline); `hash:N` is the deterministic HashEmbedder of
agentevo.models.embedding with N dimensions (fast tests). Texts are embedded in batches and normalised to unit
length, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentevo.errors import ConfigError
from agentevo.protocols import Embedder

if TYPE_CHECKING:
    import numpy as np

BATCH = 256


def embedder_name(embedder: Any) -> str:
    from agentevo.models.embedding import HashEmbedder

    if isinstance(embedder, HashEmbedder):
        return f"hash:{embedder.dim}"
    if getattr(embedder, "__name__", "") == "minilm_embed":
        return "minilm"
    return str(getattr(embedder, "name", None) or getattr(embedder, "__qualname__", type(embedder).__name__))


def load_named(name: str) -> Embedder:
    """The embedder a name stands for; ConfigError for a name nobody knows."""
    if name == "minilm":
        from agentevo.models.embedding import minilm_embed

        return minilm_embed
    if name == "hash" or name.startswith("hash:"):
        from agentevo.models.embedding import HashEmbedder

        dim = name.partition(":")[2] or "64"
        if not dim.isdigit() or not 8 <= int(dim) <= 4096:
            raise ConfigError(f"embedder {name!r}: hash:N needs 8 <= N <= 4096")
        return HashEmbedder(dim=int(dim))
    raise ConfigError(f"unknown embedder {name!r}: use minilm or hash:N")


def named(embedder: Embedder | str) -> tuple[str, Embedder]:
    """An embedder and the name a store records for it, from either one."""
    if isinstance(embedder, str):
        return embedder, load_named(embedder)
    return embedder_name(embedder), embedder


def embed_unit(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors (float32, one row per text), computed in batches."""
    import numpy as np

    rows: list[list[float]] = []
    for start in range(0, len(texts), BATCH):
        rows.extend(embedder(list(texts[start : start + BATCH])))
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    mat = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1.0, norms)
