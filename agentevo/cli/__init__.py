"""The `agentevo` command: every typer module lives in this package, and nothing outside it imports it.

app        the typer app, logging set-up, `main` (errors → one line and an exit code); doctor, chat, suites
options    the options more than one command takes, defined once
run        agentevo run                          runs      agentevo runs list|show
evolve     agentevo evolve                       train     agentevo export, agentevo train lora|eval
memory     agentevo memory …                     tools     agentevo tools …
sandbox    agentevo sandbox …                    sites     agentevo sites up|reset|status
score      agentevo score                        ui        agentevo ui

Heavy libraries (litellm, torch, langgraph, playwright, numpy, SQL) are imported inside the commands:
`agentevo --help` imports only typer, rich and this package. The root group (app.LazyGroup) imports a
command's module when that command runs or the help lists it, so `agentevo memory list` loads memory.py
alone. tests/test_startup.py checks both; bench/startup.py times them.
"""

from agentevo.cli.app import app, main

__all__ = ["app", "main"]
