"""The memory ledger's SQL tables (SQLModel): live items, commits, per-commit item history, and metadata.

SQL is the source of truth. `memory_items` holds the live state (the full Experience as JSON plus its
vector, so the index can be rebuilt without re-embedding); `memory_history` holds every version an item
had, keyed by the commit sequence number that wrote it (`data` NULL = deleted), which is what log, diff and
rollback read; `memory_commits` is the linear commit log. Table names carry a `memory_` prefix so the ledger
can share one Postgres database with the trajectory store.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from agentevo.records import utcnow

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = "1"


class MemoryItemRow(SQLModel, table=True):
    __tablename__ = "memory_items"
    id: str = Field(primary_key=True)
    kind: str = Field(index=True)
    trust: str = Field(index=True)
    suite: str = Field(default="", index=True)
    site: str = ""
    template: str = ""
    seq: int = 0  # the commit that wrote this version
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    vector: bytes = Field(default=b"", sa_column=Column(LargeBinary))


class MemoryCommitRow(SQLModel, table=True):
    __tablename__ = "memory_commits"
    id: str = Field(primary_key=True)
    seq: int = Field(unique=True, index=True)
    parent: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    message: str = ""
    source: str = ""  # who made it: curator, usage, cli, rollback, import
    source_run: str = ""
    ops: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))


class MemoryHistoryRow(SQLModel, table=True):
    __tablename__ = "memory_history"
    seq: int = Field(primary_key=True)
    item_id: str = Field(primary_key=True, index=True)
    op: str = ""
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    vector: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


class MemoryMetaRow(SQLModel, table=True):
    __tablename__ = "memory_meta"
    key: str = Field(primary_key=True)
    value: str = ""


TABLES = [
    MemoryItemRow.__table__,
    MemoryCommitRow.__table__,
    MemoryHistoryRow.__table__,
    MemoryMetaRow.__table__,
]


def create_tables(engine: Any) -> None:
    SQLModel.metadata.create_all(engine, tables=TABLES)


def pack(vector: Any) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32)
