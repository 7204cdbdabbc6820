"""The workspace as the workbench sees it: its stores, opened on first use and kept for the app's life.

Readers take no lock (the trajectory store and the memory ledger are WAL SQLite), so the workbench can stay
open while a run or an evolution writes. A memory or tool archive may live in the workspace itself or in a
sub-folder (each condition of an evolution run keeps its own under runs/<evolve_id>/<condition>/): `at` names
that folder relative to the workspace, and is refused when it points outside.
"""

from __future__ import annotations

import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentevo.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from agentevo.memory.store import ExperienceStore
    from agentevo.runs.store import TrajectoryStore
    from agentevo.tools.archive import FileToolArchive


@dataclass
class Workbench:
    workspace: Path
    read_only: bool = False
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    lock_timeout_s: float = 5.0
    _runs: TrajectoryStore | None = None
    _memory: dict[Path, ExperienceStore] = field(default_factory=dict)
    _archives: dict[Path, FileToolArchive] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def runs_dir(self) -> Path:
        return self.workspace / "runs"

    def space(self, at: str | None) -> Path:
        """The folder a memory or tool archive lives in: the workspace, or a folder below it."""
        if not at:
            return self.workspace
        path = (self.workspace / at).resolve()
        if not path.is_relative_to(self.workspace) or not path.is_dir():
            raise ConfigError(f"no folder {at!r} in the workspace")
        return path

    # --- the trajectory store ---------------------------------------------------------------------------
    def runs(self) -> TrajectoryStore | None:
        """The workspace's trajectory store; None while it has none (nothing is created to read it)."""
        from agentevo.runs.store import TrajectoryStore

        with self._lock:
            if self._runs is None and (self.runs_dir / "agentevo.db").exists():
                self._runs = TrajectoryStore.for_workspace(self.workspace)
            return self._runs

    # --- memory ---------------------------------------------------------------------------------------
    def memory(self, at: str | None) -> ExperienceStore | None:
        """A reader of the memory ledger in a space (no lock taken); None where there is none."""
        from agentevo.memory.store import STORE_DIR, ExperienceStore

        root = self.space(at)
        with self._lock:
            store = self._memory.get(root)
            if store is None and (root / STORE_DIR / "memory.db").exists():
                store = ExperienceStore.for_workspace(root, mode="read")
                self._memory[root] = store
            return store

    @contextmanager
    def memory_writer(self, at: str | None) -> Iterator[ExperienceStore]:
        """The memory ledger opened for one change, as `agentevo memory forget|approve|rollback` opens it:
        it waits for the writer lock, then fails with one clear line."""
        from agentevo.memory.store import ExperienceStore

        if self.memory(at) is None:
            raise ConfigError("this space has no memory store")
        store = ExperienceStore.for_workspace(
            self.space(at), mode="write", lock_timeout_s=self.lock_timeout_s
        )
        try:
            yield store
        finally:
            store.close()

    # --- tools ----------------------------------------------------------------------------------------
    def archive(self, at: str | None) -> FileToolArchive | None:
        from agentevo.tools.access import open_archive

        root = self.space(at)
        with self._lock:
            archive = self._archives.get(root)
            if archive is None and (root / "tools_archive" / "registry.db").exists():
                archive = open_archive(root, None)
                self._archives[root] = archive
            return archive

    def close(self) -> None:
        with self._lock:
            for store in self._memory.values():
                store.close()
            for archive in self._archives.values():
                archive.release_envs()
                archive.registry.engine.dispose()
            if self._runs is not None:
                self._runs.engine.dispose()
            self._memory.clear()
            self._archives.clear()
            self._runs = None


def scalar_items(data: dict[str, Any], skip: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """The fields of a record that read as one value (for files whose keys may change under us)."""
    return [
        (k, v)
        for k, v in data.items()
        if k not in skip and (v is None or isinstance(v, str | int | float | bool))
    ]
