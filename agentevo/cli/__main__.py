"""`python -m agentevo.cli`: the same entry point as the console script."""

from agentevo.cli.app import main

main()
