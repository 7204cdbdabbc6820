"""Shared by the benchmarks (run as `python bench/NAME.py`): timing helpers, the table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": 1000 * statistics.median(samples),
        "p95_ms": 1000 * percentile(samples, 0.95),
        "mean_ms": 1000 * statistics.fmean(samples),
        "n": len(samples),
    }


def child_json(script: str, *args: str) -> Any:
    """Run `script` again in a fresh Python process (an arm measured on its own) and return the JSON it
    printed on its last line."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(name: str, title: str, columns: list[str], rows: list[list[Any]], data: dict[str, Any]) -> Path:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "cores": os.cpu_count(),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path
