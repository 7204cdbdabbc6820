"""The registry in SQL (SQLModel; WAL SQLite in the archive folder, or any SQLAlchemy URL such as Postgres):
tool versions with status and content hash, every call with its outcome and latency, every rejection with
its reason, and an audit trail of events (registered, retired, tampered, merged, verified).

Each write is its own transaction, so a reported call or retirement survives a crash.
"""

from __future__ import annotations

import statistics
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, func
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, select

from agentevo.db import make_engine
from agentevo.errors import StoreError
from agentevo.records import ToolStats, utcnow
from agentevo.text import first_line, safe_url


class ToolRow(SQLModel, table=True):
    __tablename__ = "tool_versions"
    name: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    kind: str = Field(index=True)
    status: str = Field(default="active", index=True)  # active | retired
    reason: str = ""  # why it was retired
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    sha256: str = ""
    origin: str = ""  # compiler | llm | user
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    embedding: list[float] | None = Field(default=None, sa_column=Column(JSON))
    embedder: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    verified_at: datetime | None = None


class CallRow(SQLModel, table=True):
    __tablename__ = "tool_calls"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int
    outcome: str  # ok | failed | bad_args (the model's mistake, not the tool's: not counted)
    ms: float = 0.0
    error: str = ""
    episode_id: str = ""
    at: datetime = Field(default_factory=utcnow)


class RejectionRow(SQLModel, table=True):
    __tablename__ = "tool_rejections"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    kind: str = ""
    code: str = ""
    reason: str = ""
    origin: str = ""
    trajectory_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    at: datetime = Field(default_factory=utcnow)


class EventRow(SQLModel, table=True):
    __tablename__ = "tool_events"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int = 0
    event: str = ""
    detail: str = ""
    at: datetime = Field(default_factory=utcnow)


TABLES = [ToolRow.__table__, CallRow.__table__, RejectionRow.__table__, EventRow.__table__]


def default_url(root: Path) -> str:
    return f"sqlite:///{root / 'registry.db'}"


class Registry:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            SQLModel.metadata.create_all(self.engine, tables=TABLES)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open the tool registry {safe_url(url)}: {first_line(exc)}") from None
        self._lock = threading.Lock()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def add(self, *rows: SQLModel) -> None:
        with self._lock, self.session() as s:
            try:
                for row in rows:
                    s.add(row)
                s.commit()
            except IntegrityError as exc:
                raise StoreError(f"tool registry conflict: {first_line(exc)}") from None
            except SQLAlchemyError as exc:
                raise StoreError(f"tool registry write failed: {first_line(exc)}") from None

    def save(self, row: ToolRow) -> None:
        with self._lock, self.session() as s:
            s.merge(row)
            s.commit()

    # --- versions ---------------------------------------------------------------------------------------
    def get(self, name: str, version: int) -> ToolRow | None:
        with self.session() as s:
            return s.get(ToolRow, (name, version))

    def versions(self, name: str) -> list[ToolRow]:
        with self.session() as s:
            return list(s.exec(select(ToolRow).where(ToolRow.name == name).order_by(ToolRow.version)))

    def rows(self, *, status: str | None = None, kind: str | None = None) -> list[ToolRow]:
        with self.session() as s:
            q = select(ToolRow)
            if status:
                q = q.where(ToolRow.status == status)
            if kind:
                q = q.where(ToolRow.kind == kind)
            return list(s.exec(q.order_by(ToolRow.name, ToolRow.version)))

    def active(self, name: str) -> ToolRow | None:
        rows = [r for r in self.versions(name) if r.status == "active"]
        return rows[-1] if rows else None

    def by_alias(self, alias: str) -> ToolRow | None:
        return next((r for r in self.rows(status="active") if alias in (r.aliases or [])), None)

    def set_status(self, name: str, version: int, status: str, reason: str = "") -> None:
        with self._lock, self.session() as s:
            row = s.get(ToolRow, (name, version))
            if row is None:
                raise StoreError(f"no tool {name}@{version} in the registry")
            row.status, row.reason = status, reason
            s.add(row)
            s.commit()

    # --- calls ------------------------------------------------------------------------------------------
    def stats(self, name: str, version: int) -> ToolStats:
        with self.session() as s:
            q = select(CallRow.outcome, CallRow.ms).where(
                CallRow.name == name, CallRow.version == version, CallRow.outcome != "bad_args"
            )
            rows = list(s.exec(q))
        ok = sum(o == "ok" for o, _ in rows)
        p50 = statistics.median(ms for _, ms in rows) if rows else 0.0
        return ToolStats(calls=len(rows), ok=ok, failed=len(rows) - ok, p50_ms=round(p50, 1))

    def recent_outcomes(self, name: str, version: int, n: int) -> list[str]:
        with self.session() as s:
            q = (
                select(CallRow.outcome)
                .where(CallRow.name == name, CallRow.version == version, CallRow.outcome != "bad_args")
                .order_by(CallRow.id.desc())  # type: ignore[union-attr]
                .limit(n)
            )
            return list(s.exec(q))

    def call_counts(self) -> dict[tuple[str, int], int]:
        with self.session() as s:
            q = select(CallRow.name, CallRow.version, func.count()).group_by(CallRow.name, CallRow.version)
            return {(n, v): c for n, v, c in s.exec(q)}

    # --- rejections and events --------------------------------------------------------------------------
    def rejections(self, limit: int = 100) -> list[RejectionRow]:
        with self.session() as s:
            q = select(RejectionRow).order_by(RejectionRow.id.desc()).limit(limit)  # type: ignore[union-attr]
            return list(s.exec(q))

    def events(self, name: str | None = None, limit: int = 200) -> list[EventRow]:
        with self.session() as s:
            q = select(EventRow)
            if name:
                q = q.where(EventRow.name == name)
            return list(s.exec(q.order_by(EventRow.id.desc()).limit(limit)))  # type: ignore[union-attr]

    def event(self, name: str, version: int, event: str, detail: str = "") -> None:
        self.add(EventRow(name=name, version=version, event=event, detail=detail[:2000]))
