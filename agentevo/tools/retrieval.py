"""Finding tools by meaning: each active version's name and description embedded once (kept in its registry
row with the embedder's name), ranked by cosine similarity to a query, within the tool's scope."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

from agentevo.protocols import Embedder
from agentevo.records import Tool
from agentevo.tools.files import ToolFiles, ToolTampered
from agentevo.tools.registry import Registry, ToolRow
from agentevo.tools.settings import ArchiveSettings


def embedder_name(embedder: Embedder) -> str:
    return getattr(embedder, "__name__", None) or f"{type(embedder).__name__}{getattr(embedder, 'dim', '')}"


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(x * x for x in b)) or 1.0
    return sum(x * y for x, y in zip(a, b, strict=False)) / (na * nb)


def in_scope(scope: dict[str, Any], suite: str, template: str) -> bool:
    """Offered in its own suite, or on its own template in another suite (miniwob-lite → miniwob)."""
    return scope.get("suite", "") in ("", suite) or bool(template and scope.get("template") == template)


def embedding_text(name: str, description: str) -> str:
    return f"{name.replace('_', ' ')}: {description}"


class ToolSearch:
    """Embeddings of registry rows and the ranked search over them; the embedder loads on first use."""

    def __init__(
        self, registry: Registry, files: ToolFiles, settings: ArchiveSettings, embedder: Embedder | None
    ) -> None:
        self.registry, self.files, self.settings = registry, files, settings
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from agentevo.models.embedding import load_embedder

            self._embedder = load_embedder(self.settings.embedder)
        return self._embedder

    def ensure_embeddings(self, rows: Sequence[ToolRow]) -> None:
        name = embedder_name(self.embedder)
        stale = [r for r in rows if r.embedding is None or r.embedder != name]
        if not stale:
            return
        vectors = self.embedder([embedding_text(r.name, r.description) for r in stale])
        for row, vec in zip(stale, vectors, strict=True):
            row.embedding, row.embedder = list(vec), name
            self.registry.save(row)

    def nearest_rows(self, tool: Tool, rows: Sequence[ToolRow], n: int) -> list[ToolRow]:
        """The n rows whose name and description are nearest the tool's."""
        self.ensure_embeddings(rows)
        vec = self.embedder([embedding_text(tool.name, tool.description)])[0]
        return sorted(rows, key=lambda r: -cosine(vec, r.embedding or []))[:n]

    def scored(
        self, query: str, *, k: int = 5, kind: str | None = None, suite: str | None = None, template: str = ""
    ) -> list[tuple[Tool, float]]:
        rows = self.registry.rows(status="active", kind=kind)
        if suite is not None and self.settings.same_suite:
            rows = [r for r in rows if in_scope(r.scope or {}, suite, template)]
        if not rows or k <= 0:
            return []
        self.ensure_embeddings(rows)
        query_vec = self.embedder([query])[0]
        ranked = sorted(((cosine(query_vec, r.embedding or []), r) for r in rows), key=lambda p: -p[0])
        found = []
        for score, row in ranked:
            if score < self.settings.min_score or len(found) >= k:
                break
            with contextlib.suppress(ToolTampered):
                found.append((self.files.get(row.name, row.version), score))
        return found
