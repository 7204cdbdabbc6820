"""Moving memory between workspaces: every live item as JSON lines, written atomically, read strictly."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from agentevo.errors import MemoryStoreError
from agentevo.records import Experience


def write_export(items: Sequence[Experience], path: Path) -> int:
    """Written to a temporary file, synced, then renamed: the file is the old one or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for exp in items:
                f.write(exp.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MemoryStoreError(f"cannot write {path}: {exc.strerror}") from None
    return len(items)


def read_export(path: Path) -> list[Experience]:
    """Every item of a file, or MemoryStoreError naming the first line that is not one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MemoryStoreError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise MemoryStoreError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise MemoryStoreError(f"{path}: cannot read ({exc.strerror})") from None
    items: list[Experience] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(Experience.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise MemoryStoreError(f"{path}:{n}: not an experience item ({where}: {err['msg']})") from None
    return items
