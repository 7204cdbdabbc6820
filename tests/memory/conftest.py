"""Fixtures: a real store (SQLite + Chroma) with the deterministic hash embedder."""

from __future__ import annotations

import pytest

from agentevo.memory.store import ExperienceStore
from agentevo.testing import HashEmbedder


@pytest.fixture
def store(tmp_path):
    s = ExperienceStore(tmp_path / "memory_store", embedder=HashEmbedder(64))
    yield s
    s.close()
