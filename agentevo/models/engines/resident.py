"""The models an engine keeps loaded in one process: at most a few, the least recently used idle one freed
when another loads.

An evolution with `lora` conditions loads a new adapter every round and never goes back to the old ones;
kept for the life of the process, each llama.cpp model held about 320 MB here (plus up to 256 MB of prompt
snapshots), so a long run grew with every round and run (bench/resident_memory.py). The llama engine
reaches its `Llama` only through `use`, which holds the model's lock for the call, so a model is freed only
between calls, never under one; the transformers engine's weights, dropped here, go once no call holds them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, Protocol, TypeVar

LIMIT = int(os.environ.get("AGENTEVO_RESIDENT_MODELS", "3"))
"""Models (a base, or a base with one adapter) kept loaded per engine and process."""


class Lockable(Protocol):
    lock: threading.Lock


M = TypeVar("M", bound=Lockable)


class Resident(Generic[M]):
    def __init__(self, free: Callable[[M], None], limit: int | None = None) -> None:
        self.free = free
        self.limit = max(1, LIMIT if limit is None else limit)
        self.models: OrderedDict[Hashable, M] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], M]) -> M:
        """The loaded model for `key` (loading it, and freeing idle ones beyond the limit, when it is not)."""
        with self.lock:
            if key in self.models:
                self.models.move_to_end(key)
                return self.models[key]
            self.make_room()
            model = self.models[key] = load()
            return model

    def make_room(self) -> None:
        for key in list(self.models):
            if len(self.models) < self.limit:
                return
            model = self.models[key]
            if model.lock.acquire(blocking=False):  # one in a call stays; the limit is exceeded meanwhile
                try:
                    del self.models[key]
                    self.free(model)
                finally:
                    model.lock.release()

    @contextlib.contextmanager
    def use(self, key: Hashable, load: Callable[[], M]) -> Iterator[M]:
        """The model for `key` with its lock held: never one that was freed between lookup and lock."""
        while True:
            model = self.get(key, load)
            with model.lock:
                if self.models.get(key) is not model:  # freed (or replaced) before we held it
                    continue
                yield model
                return

    def clear(self) -> None:
        with self.lock:
            for model in self.models.values():
                self.free(model)
            self.models.clear()

    def __len__(self) -> int:
        return len(self.models)
