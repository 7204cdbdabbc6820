"""The tool archive's files: each version's folder on disk, loaded only while it matches its registration.

A tool whose tool.py or test_tool.py no longer hashes to what the registry recorded at registration is
refused at load (TL-04), and the refusal is recorded once as a `tampered` event.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any, NoReturn

from agentevo.errors import ConfigError, ToolRejected
from agentevo.records import Provenance, Tool
from agentevo.tools import folder
from agentevo.tools.candidate import Candidate, Replay
from agentevo.tools.registry import Registry, ToolRow

log = logging.getLogger(__name__)


class ToolTampered(ToolRejected):
    """A tool's files differ from what was registered."""


class ToolFiles:
    """Version folders under `root`, read and written against the registry's rows."""

    def __init__(self, root: Path, registry: Registry) -> None:
        self.root, self.registry = root, registry

    def row_for(self, name: str, version: int | None = None) -> ToolRow:
        """A version's row; without a version the newest active one (or the newest, or an alias's)."""
        if version is not None:
            row = self.registry.get(name, version)
        else:
            versions = self.registry.versions(name)
            active = [r for r in versions if r.status == "active"]
            row = (active or versions or [None])[-1]
            if row is None:
                row = self.registry.by_alias(name)
        if row is None:
            known = ", ".join(sorted({r.name for r in self.registry.rows()})) or "none"
            at = f"@{version}" if version is not None else ""
            raise ConfigError(f"no tool {name}{at} in {self.root} (known: {known})")
        return row

    def get(self, name: str, version: int | None = None) -> Tool:
        row = self.row_for(name, version)
        path = folder.version_dir(self.root, row.name, row.version)
        try:
            source, tests, _meta = folder.read_files(path)
        except ConfigError as exc:
            self.tampered(row, f"files unreadable: {exc}")
        digest = folder.content_hash(source, tests)
        if digest != row.sha256:
            self.tampered(row, f"content hash {digest[:12]} differs from the registered {row.sha256[:12]}")
        return self.tool_of(row, source, tests)

    def tampered(self, row: ToolRow, detail: str) -> NoReturn:
        if not any(
            e.event == "tampered" and e.version == row.version for e in self.registry.events(row.name, 20)
        ):
            self.registry.event(row.name, row.version, "tampered", detail)
        log.warning("tool %s@%s refused: %s", row.name, row.version, detail)
        raise ToolTampered(row.name, f"tampered: {detail}")

    def tool_of(self, row: ToolRow, source: str, tests: str) -> Tool:
        return Tool(
            name=row.name,
            version=row.version,
            description=row.description,
            parameters=row.parameters,
            kind=row.kind,  # type: ignore[arg-type]
            source=source,
            tests=tests,
            provenance=Provenance.model_validate(row.provenance or {}),
            stats=self.registry.stats(row.name, row.version),
            status=row.status,  # type: ignore[arg-type]
            created_at=row.created_at,
            verified_at=row.verified_at,
        )

    def replays(self, name: str, version: int) -> list[Replay]:
        _source, _tests, meta = folder.read_files(folder.version_dir(self.root, name, version))
        return [Replay.model_validate(r) for r in meta.get("replays") or []]

    def tools(self, status: str | None = None) -> list[Tool]:
        """Every version (or those with a status), tampered ones left out."""
        found = []
        for row in self.registry.rows(status=status):
            with contextlib.suppress(ToolTampered):
                found.append(self.get(row.name, row.version))
        return found

    def write(self, tool: Tool, candidate: Candidate, digest: str) -> ToolRow:
        """The version's folder, then its registry row (no folder is left without one) and the event."""
        meta = folder.meta_of(
            tool, scope=candidate.scope, replays=candidate.replays, origin=candidate.origin, sha256=digest
        )
        path = folder.write_version(self.root, tool, meta)
        row = ToolRow(
            name=tool.name,
            version=tool.version,
            kind=tool.kind,
            description=tool.description,
            parameters=tool.parameters,
            sha256=digest,
            origin=candidate.origin,
            scope=candidate.scope.model_dump(mode="json"),
            provenance=tool.provenance.model_dump(mode="json"),
            created_at=tool.created_at,
            verified_at=tool.verified_at,
        )
        try:
            self.registry.add(row)
        except Exception:
            shutil.rmtree(path, ignore_errors=True)  # no folder without its registry row
            raise
        self.registry.event(
            tool.name, tool.version, "registered", f"{candidate.origin}; sha256 {digest[:12]}"
        )
        return row

    def update_meta(self, name: str, version: int, *, missing_ok: bool = False, **fields: Any) -> None:
        """Rewrite fields of a version's tool.json (atomically); with missing_ok a folder gone is skipped."""
        path = folder.version_dir(self.root, name, version)
        if missing_ok and not path.exists():
            return
        folder.update_meta(path, **fields)
