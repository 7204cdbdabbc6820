"""SQL plumbing shared by every store (trajectories, the memory ledger, the tool registry).

`make_engine` opens any SQLAlchemy URL: SQLite gets its folder made, WAL, a 30 s busy timeout and the
durability the store asks for (`synchronous`: NORMAL survives a crash of the process, FULL a power loss
too); any other URL (Postgres) gets pre-pinged connections. The stores word their errors with
agentevo.text (`first_line`, `safe_url`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlmodel import create_engine

Synchronous = Literal["NORMAL", "FULL"]


def sqlite_pragmas(synchronous: Synchronous) -> Callable[[Any, Any], None]:
    """The listener that sets up each new SQLite connection."""

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return on_connect


def make_engine(url: str, *, synchronous: Synchronous = "NORMAL") -> Any:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", sqlite_pragmas(synchronous))
        return engine
    return create_engine(url, pool_pre_ping=True)
