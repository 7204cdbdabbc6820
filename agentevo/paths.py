"""Where a workspace and the per-user caches are. Standard library only, so the CLI can resolve a workspace
without loading the run configuration's pydantic models (agentevo.config re-exports both)."""

from __future__ import annotations

import os
from pathlib import Path


def workspace_dir(explicit: str | Path | None = None) -> Path:
    """The workspace: --workspace, else AGENTEVO_HOME, else the current directory."""
    return Path(explicit or os.environ.get("AGENTEVO_HOME") or ".").expanduser().resolve()


def cache_dir() -> Path:
    """Where converted model weights and other per-user caches live (AGENTEVO_CACHE)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentevo"
    return Path(os.environ.get("AGENTEVO_CACHE") or default).expanduser()
