"""The identity of an adapter folder: what the response cache and the GGUF adapter cache key on."""

from __future__ import annotations

import hashlib
from pathlib import Path


def adapter_digest(folder: Path) -> str:
    """sha256 over the folder's files (names, sizes and bytes; subfolders left out): retraining into the
    same folder is a different model."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(f"{f.name}\0{f.stat().st_size}\0".encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()
