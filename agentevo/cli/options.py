"""The options more than one command takes, each defined once. A command names them as parameter types:

    def run_command(model: Model = None, workspace: Workspace = None, json_mode: Json = False) -> None: ...

Typer reads the flag, its short form, its help and its environment variable from the type; the default stays
with the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentevo.errors import ConfigError

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Workspace = Annotated[
    Path | None, typer.Option("--workspace", "-w", help="Workspace folder (AGENTEVO_HOME).")
]

# Each store has its own URL variable: trajectories, the memory ledger, the tool registry.
RunsDb = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="AGENTEVO_DB_URL", help="Trajectory store URL (default: SQLite in the workspace)."
    ),
]
MemoryDb = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="AGENTEVO_MEMORY_URL", help="Memory ledger URL (default: SQLite in the workspace)."
    ),
]
ToolsDb = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="AGENTEVO_TOOLS_DB_URL", help="Registry URL (default: SQLite in the archive)."
    ),
]

# The run settings (`run`, `evolve`, `train eval`, and `chat` for the model); agentevo.config.run_config
# turns them into a RunConfig.
Suite = Annotated[str | None, typer.Option("--suite", "-s", help="Suite name (agentevo suites).")]
Split = Annotated[str | None, typer.Option(help="Split: train, test or all.")]
Model = Annotated[str | None, typer.Option("--model", "-m", help="Model string (see README).")]
ApiBase = Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")]
Engine = Annotated[
    str | None, typer.Option(help="Local engine: auto (llama.cpp when installed), llama or transformers.")
]
ChatTemplate = Annotated[
    str | None,
    typer.Option(help="Template of a GGUF without one: chatml, llama3-instruct, mistral-instruct or a file."),
]
Constrain = Annotated[
    str | None,
    typer.Option(help="on: replies follow what the environment accepts now (default for local models); off."),
]
Temperature = Annotated[float | None, typer.Option(help="0 = greedy.")]
MaxTokens = Annotated[int | None, typer.Option(help="Most tokens in one model reply.")]
MaxSteps = Annotated[int | None, typer.Option(help="Steps per episode.")]
Concurrency = Annotated[int | None, typer.Option("--concurrency", "-j", help="Episodes in parallel.")]
Seed = Annotated[int | None, typer.Option(help="Seed for sampling and task instances.")]
Samples = Annotated[int | None, typer.Option(help="Episodes per task (seeds seed, seed+1, …).")]
Sandbox = Annotated[str | None, typer.Option(help="auto, docker, bwrap or local.")]
Config = Annotated[Path | None, typer.Option("--config", "-c", help="YAML run file.")]


def on_off(flag: str, value: str | None) -> bool | None:
    """An on/off flag's value as a bool (None when it was not given)."""
    if value is None:
        return None
    if value not in ("on", "off"):
        raise ConfigError(f"{flag} takes on or off, not {value!r}")
    return value == "on"
