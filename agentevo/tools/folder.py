"""The on-disk form of a tool: `<archive>/<name>/v<N>/{tool.py, test_tool.py, tool.json}`.

Plain files a person can review. A version folder is written in a staging folder and renamed into place,
so nothing half-written ever appears; tool.json is rewritten the same way (temp file + rename). The content
hash of tool.py and test_tool.py is kept in tool.json and in SQL: an edited tool is refused at load (TL-04).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentevo.errors import ConfigError
from agentevo.kinds import known_kinds
from agentevo.records import Kind, Provenance, Scope, Tool
from agentevo.tools.candidate import Candidate, Replay

FORMAT = "agentevo-tool/1"
TOOL_FILE, TESTS_FILE, META_FILE = "tool.py", "test_tool.py", "tool.json"
STAGING = ".staging"


def content_hash(source: str, tests: str) -> str:
    h = hashlib.sha256()
    for name, text in ((TOOL_FILE, source), (TESTS_FILE, tests)):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def version_dir(root: Path, name: str, version: int) -> Path:
    return root / name / f"v{version}"


def meta_of(tool: Tool, *, scope: Scope, replays: list[Replay], origin: str, sha256: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": tool.name,
        "version": tool.version,
        "kind": tool.kind,
        "description": tool.description,
        "parameters": tool.parameters,
        "status": tool.status,
        "origin": origin,
        "provenance": tool.provenance.model_dump(mode="json"),
        "scope": scope.model_dump(mode="json"),
        "replays": [r.model_dump(mode="json") for r in replays],
        "created_at": tool.created_at.isoformat(),
        "verified_at": tool.verified_at.isoformat() if tool.verified_at else None,
        "sha256": sha256,
    }


def write_version(root: Path, tool: Tool, meta: dict[str, Any]) -> Path:
    """Stage the three files, then rename the folder into place (atomic on one filesystem)."""
    target = version_dir(root, tool.name, tool.version)
    if target.exists():
        raise FileExistsError(str(target))
    stage = root / STAGING / uuid.uuid4().hex
    stage.mkdir(parents=True)
    try:
        for name, text in ((TOOL_FILE, tool.source), (TESTS_FILE, tool.tests), (META_FILE, dumps(meta))):
            write_synced(stage / name, text)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return target


def update_meta(path: Path, **fields: Any) -> None:
    meta = json.loads((path / META_FILE).read_text())
    meta.update(fields)
    tmp = path / f".{META_FILE}.{uuid.uuid4().hex}"
    write_synced(tmp, dumps(meta))
    os.replace(tmp, path / META_FILE)


def write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def dumps(meta: dict[str, Any]) -> str:
    return json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def read_files(path: Path) -> tuple[str, str, dict[str, Any]]:
    """tool.py, test_tool.py and tool.json of a version folder (a user's folder may lack tool.json)."""
    try:
        source = (path / TOOL_FILE).read_text(encoding="utf-8")
        tests = (path / TESTS_FILE).read_text(encoding="utf-8") if (path / TESTS_FILE).exists() else ""
        meta_text = (path / META_FILE).read_text(encoding="utf-8") if (path / META_FILE).exists() else "{}"
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no {Path(exc.filename).name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path / META_FILE}: malformed JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path / META_FILE}: must be a JSON object")
    return source, tests, meta


def single_public_function(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    return names[0] if len(names) == 1 else None


def candidate_from_folder(path: Path, *, kind: Kind | None = None) -> Candidate:
    """A user's hand-written tool folder as a candidate for the gate (`agentevo tools add DIR`)."""
    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder")
    source, tests, meta = read_files(path)
    name = meta.get("name") or single_public_function(source)
    if not name:
        raise ConfigError(f"{path}: name the tool in tool.json, or define exactly one public function")
    chosen = kind or meta.get("kind") or "code"
    if chosen not in known_kinds():
        raise ConfigError(f"{path}: kind must be one of {', '.join(known_kinds())}, not {chosen!r}")
    try:
        tool = Tool(
            name=str(name),
            kind=chosen,
            description=str(meta.get("description", "")),
            source=source,
            tests=tests,
            provenance=Provenance.model_validate(meta.get("provenance") or {"source": "user"}),
        )
        scope = Scope.model_validate(meta.get("scope") or {})
        replays = [Replay.model_validate(r) for r in meta.get("replays") or []]
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path / META_FILE}: {where}: {err['msg']}") from None
    return Candidate(tool=tool, scope=scope, replays=replays, origin="user")
