"""`agentevo ui`: serve the workbench over a workspace on this machine (loopback unless told otherwise)."""

from __future__ import annotations

from typing import Annotated

import typer

from agentevo.cli.options import Workspace
from agentevo.console import err
from agentevo.errors import ConfigError
from agentevo.paths import workspace_dir


def ui_command(
    workspace: Workspace = None,
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port (0: any free one).")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; other than loopback only when you mean it.")
    ] = "127.0.0.1",
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Serve no change at all: forget, approve, rollback, retire.")
    ] = False,
) -> None:
    """Browse runs, trajectories, memory, tools and evolution runs in a local web app."""
    from agentevo.ui.serve import serve

    ws = workspace_dir(workspace)
    if not ws.is_dir():
        raise ConfigError(f"no workspace folder {ws}")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: use 0–65535")
    serve(ws, host=host, port=port, read_only=read_only, announce=lambda url: err.print(f"workbench: {url}"))
