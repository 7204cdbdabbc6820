"""A response cache: the same model, messages and parameters give the same reply, so a rerun is exact."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from agentevo.protocols import Model
from agentevo.records import Message, ModelReply, ToolSpec


class CachedModel:
    """Wraps a Model; replies are stored in SQLite keyed by a hash of everything that shapes them."""

    def __init__(self, inner: Model, path: Path, *, seed: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.seed = seed
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def supports_tools(self) -> bool:
        return bool(getattr(self.inner, "supports_tools", False))

    def key(self, messages: Sequence[Message], **params: object) -> str:
        blob = json.dumps(
            {"model": self.name, "seed": self.seed, "messages": list(messages), **params},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ModelReply:
        key = self.key(
            messages,
            tools=[t.model_dump() for t in tools],
            stop=list(stop),
            max_tokens=max_tokens,
            temperature=temperature,
            call_seed=seed,
        )
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return ModelReply.model_validate_json(row[0]).model_copy(update={"cached": True, "seconds": 0.0})
        self.misses += 1
        reply = self.inner.complete(
            messages, tools=tools, stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, reply.model_dump_json()))
        return reply

    def close(self) -> None:
        self._db.close()
