"""The workbench: `agentevo ui`, a local web app over a workspace's runs, memory, tools and evolution runs.

It reads the same stores the CLI reads (no copy) and changes them only through the functions the CLI uses,
each change behind a confirmation page and a per-launch token; `--read-only` serves no change at all.
"""
