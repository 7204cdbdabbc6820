"""Terminal output shared by the commands: rich consoles (stdout for results, stderr for progress and
errors) and JSON printing for `--json`."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour, no wrapping), for scripts and `jq`."""
    print(json.dumps(data, indent=2, default=str))


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"
