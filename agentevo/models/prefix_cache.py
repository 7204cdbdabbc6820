"""Reusing the attention cache of earlier prompts: an agent's next prompt starts with its previous one.

Step k+1 of an episode sends everything step k sent, plus the reply and a new observation; episodes of one
kind share the same system message and demonstrations. On a CPU the prompt's prefill dominates a call, so
the key/value cache of recent prompts is kept and the longest common token prefix is reused: only the new
tokens are computed. Entries are copied before use, so a cached entry is never modified.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

MIN_REUSE = 16  # shorter shared prefixes are not worth the copy


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.entries: list[tuple[list[int], Any]] = []  # most recently used first
        self.lock = threading.Lock()
        self.hits = 0
        self.reused_tokens = 0

    def lookup(self, ids: Sequence[int]) -> tuple[int, Any]:
        """(tokens already computed, a private copy of their cache) for the best entry, or (0, None)."""
        with self.lock:
            best_len, best_at = 0, -1
            for at, (tokens, _) in enumerate(self.entries):
                n = common_prefix(tokens, ids)
                if n > best_len:
                    best_len, best_at = n, at
            if best_at < 0 or best_len < MIN_REUSE:
                return 0, None
            usable = min(best_len, len(ids) - 1)  # the model must see at least one new token
            tokens, cache = self.entries.pop(best_at)
            self.entries.insert(0, (tokens, cache))
            private = copy.deepcopy(cache)
        extra = private.get_seq_length() - usable
        if extra > 0:
            private.crop(-extra)  # transformers 5: a negative count removes that many tokens from the end
        self.hits += 1
        self.reused_tokens += usable
        return usable, private

    def store(self, tokens: Sequence[int], cache: Any) -> None:
        if cache is None or len(tokens) < MIN_REUSE:
            return
        with self.lock:
            self.entries.insert(0, (list(tokens), cache))
            del self.entries[self.capacity :]
