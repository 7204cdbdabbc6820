"""Opening a workspace's tool archive and naming its tools, for the command line and the workbench alike."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentevo.errors import ConfigError
from agentevo.paths import workspace_dir

if TYPE_CHECKING:
    from agentevo.tools.archive import FileToolArchive


def open_archive(workspace: Path | None, db: str | None, sandbox: str | None = None) -> FileToolArchive:
    from agentevo.tools.archive import FileToolArchive
    from agentevo.tools.settings import ArchiveSettings

    options: dict[str, Any] = {"db": db} if db else {}
    if sandbox:
        options["sandbox"] = sandbox
    return FileToolArchive.for_workspace(workspace_dir(workspace), ArchiveSettings.from_options(options))


def split_ref(ref: str) -> tuple[str, int | None]:
    """NAME or NAME@V (V may be written vN)."""
    name, _, version = ref.partition("@")
    if not version:
        return name, None
    digits = version.removeprefix("v")
    if not digits.isdigit():
        raise ConfigError(f"{ref!r}: a version is a number, as in {name}@2")
    return name, int(digits)


def unified(a: str, b: str, left: str, right: str) -> str:
    """The unified diff of two versions of one file ("" when they are the same)."""
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), left, right))
