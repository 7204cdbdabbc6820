"""A response cache: the same model, messages and settings give the same reply, so a rerun is exact.

The key covers everything that shapes a reply, as the wrapped model will actually apply it: the model string,
the messages, the offered tools, the model's own `reply_settings(...)` — the effective endpoint, engine,
temperature, top_p, max_tokens, stop strings, sampling seed, adapter digest, … after the call's arguments are
merged with the model's defaults — and the digest of the grammar a constrained reply followed. A model that
has no `reply_settings` is keyed on the call's arguments and its class. A new setting is one line in the
model's `reply_settings`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentevo.models.calls import ask
from agentevo.protocols import Model
from agentevo.records import Message, ModelReply, ToolSpec

KEY_FORMAT = 3
"""Raised whenever the key's contents change. Rows written under another format cannot be told apart from
replies made with other settings, so they are deleted when the cache is opened (format 1 keyed the call's
arguments only, and a run with another --max-tokens or --temperature replayed the old replies; format 2 did
not know the engine or the grammar)."""


def reply_settings(
    model: Model,
    *,
    stop: Sequence[str] = (),
    max_tokens: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The settings a call to `model` will really use, besides its messages and tools."""
    own = getattr(model, "reply_settings", None)
    if callable(own):
        return dict(own(stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed))
    kind = type(model)
    return {
        "class": f"{kind.__module__}.{kind.__qualname__}",
        "stop": list(stop),
        "max_tokens": max_tokens,
        "temperature": temperature,
        "seed": seed,
    }


def cache_key(
    name: str, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: dict[str, Any]
) -> str:
    fields = {
        "format": KEY_FORMAT,
        "model": name,
        "messages": list(messages),
        "tools": [t.model_dump(mode="json") for t in tools],
        "settings": settings,
    }
    blob = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedModel:
    """Wraps a Model; replies are stored in SQLite keyed by a hash of everything that shapes them."""

    def __init__(self, inner: Model, path: Path, *, seed: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.seed = seed  # the default sampling seed, for wrapped models without reply_settings
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._lock = threading.Lock()
        self.dropped = self.open_format()
        self.hits = 0
        self.misses = 0

    def open_format(self) -> int:
        """Create the tables; delete rows keyed under another format. Returns how many were deleted."""
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE name = 'key_format'").fetchone()
        if row is not None and row[0] == str(KEY_FORMAT):
            return 0
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            dropped = db.execute("DELETE FROM replies").rowcount
            db.execute("INSERT OR REPLACE INTO meta VALUES ('key_format', ?)", (str(KEY_FORMAT),))
            db.execute("COMMIT")
        return dropped

    @property
    def supports_tools(self) -> bool:
        return bool(getattr(self.inner, "supports_tools", False))

    @property
    def constrains(self) -> bool:
        return bool(getattr(self.inner, "constrains", False))

    def reply_settings(
        self,
        *,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        if seed is None and not callable(getattr(self.inner, "reply_settings", None)):
            seed = self.seed  # a model that cannot say its own default seed gets the run's
        return reply_settings(
            self.inner, stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed
        )

    def key(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        constraint: Any = None,
    ) -> str:
        settings = self.reply_settings(stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed)
        if constraint is not None and self.constrains:  # the grammar shapes the reply as much as a setting
            settings["constraint"] = constraint.digest
        return cache_key(self.name, messages, tools, settings)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        constraint: Any = None,
    ) -> ModelReply:
        call: dict[str, Any] = {
            "tools": tools,
            "stop": stop,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
            "constraint": constraint,
        }
        key = self.key(messages, **call)
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return ModelReply.model_validate_json(row[0]).model_copy(update={"cached": True, "seconds": 0.0})
        self.misses += 1
        reply = ask(self.inner, messages, **call)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, reply.model_dump_json()))
        return reply

    def close(self) -> None:
        self._db.close()
