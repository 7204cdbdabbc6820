"""Latency of a trivial command (`true`) per sandbox backend, against a bare subprocess in the same run.

    python bench/sandbox_latency.py [--warm 200] [--cold 20]

Every row alternates its own samples with samples of the bare subprocess, so both see the same machine
load, and reports its p50 against that paired floor:
    bare subprocess       subprocess.run(["sh", "-c", "true"]) with captured output: the floor
    bare prlimit          the same behind `prlimit` (what rlimits alone cost)
    local exec            the local backend (rlimits, no isolation)
    bwrap exec (warm)     a request to the sandbox's long-lived server (the default)
    bwrap exec (cold)     one bwrap per command (`BwrapSandbox(warm=False)`, the spine's way)
    docker exec (warm)    `docker exec` in the sandbox's running container
    bwrap / docker cold start   open a sandbox and run the first command (close not included)
Goals: bwrap warm exec p50 ≤ 2x the bare subprocess p50; docker cold start p50 ≤ 1 s.
Writes bench/results/sandbox_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from agentevo.envs.sandbox import Limits
from agentevo.envs.sandbox.bwrap import BwrapSandbox
from agentevo.envs.sandbox.bwrap import available as bwrap_available
from agentevo.envs.sandbox.docker import DockerSandbox
from agentevo.envs.sandbox.docker import available as docker_available
from agentevo.envs.sandbox.local import LocalSandbox

RESULTS = Path(__file__).parent / "results" / "sandbox_latency.json"
LIMITS = Limits()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
    }


def checked(result: object) -> None:
    if not getattr(result, "ok", True):
        raise SystemExit(f"a benchmark command failed: {result}")


def bare() -> None:
    subprocess.run(["sh", "-c", "true"], capture_output=True, check=True)


def paired(fn: Callable[[], object], n: int) -> tuple[list[float], list[float]]:
    """n samples of fn, each followed by one of the bare subprocess: both see the same machine load."""
    fn()
    bare()  # warm-up: first calls pay imports and page faults
    ours, floor = [], []
    for _ in range(n):
        ours.append(timed(fn))
        floor.append(timed(bare))
    return ours, floor


def warm_rows(n: int) -> dict[str, tuple[list[float], list[float]]]:
    prlimit = LIMITS.prlimit_args(None)
    rows = {
        "bare subprocess": paired(bare, n),
        "bare prlimit": paired(
            lambda: subprocess.run([*prlimit, "sh", "-c", "true"], capture_output=True), n
        ),
    }
    makers: dict[str, Callable[[], object]] = {"local exec": lambda: LocalSandbox(LIMITS)}
    if bwrap_available():
        makers["bwrap exec (warm)"] = lambda: BwrapSandbox(LIMITS)
        makers["bwrap exec (cold)"] = lambda: BwrapSandbox(LIMITS, warm=False)
    if docker_available():
        makers["docker exec (warm)"] = lambda: DockerSandbox(LIMITS)
    for name, make in makers.items():
        sb = make()
        try:
            rows[name] = paired(lambda sb=sb: checked(sb.exec("true")), n)  # type: ignore[attr-defined]
        finally:
            sb.close()  # type: ignore[attr-defined]
    return rows


def cold_rows(n: int) -> dict[str, tuple[list[float], list[float]]]:
    openers: dict[str, Callable[[], object]] = {}
    if bwrap_available():
        openers["bwrap cold start"] = lambda: BwrapSandbox(LIMITS)
    if docker_available():
        openers["docker cold start"] = lambda: DockerSandbox(LIMITS)
    rows = {}
    for name, opener in openers.items():
        ours, floor = [], []
        for _ in range(n):
            started = time.perf_counter()
            sb = opener()
            checked(sb.exec("true"))  # type: ignore[attr-defined]
            ours.append((time.perf_counter() - started) * 1000)
            sb.close()  # type: ignore[attr-defined]
            floor.append(timed(bare))
        rows[name] = (ours, floor)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=200, help="commands per warm row")
    parser.add_argument("--cold", type=int, default=20, help="sandboxes per cold-start row")
    args = parser.parse_args()
    rows = {}
    for name, (ours, floor) in {**warm_rows(args.warm), **cold_rows(args.cold)}.items():
        row = stats(ours)
        row["bare_p50_ms"] = stats(floor)["p50_ms"]
        row["x_bare_p50"] = round(row["p50_ms"] / row["bare_p50_ms"], 2)
        rows[name] = row
    goals = {}
    if "bwrap exec (warm)" in rows:
        goals["bwrap warm exec p50 <= 2x bare subprocess"] = rows["bwrap exec (warm)"]["x_bare_p50"] <= 2.0
    if "docker cold start" in rows:
        goals["docker cold start p50 <= 1000 ms"] = rows["docker cold start"]["p50_ms"] <= 1000
    print(f"{'row':22} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'bare p50':>9} {'x bare':>7}")
    for name, row in rows.items():
        print(
            f"{name:22} {row['n']:>5} {row['p50_ms']:>9.2f} {row['p95_ms']:>9.2f} {row['bare_p50_ms']:>9.2f} "
            f"{row['x_bare_p50']:>7.2f}"
        )
    for goal, met in goals.items():
        print(f"goal: {goal}: {'met' if met else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "rows": rows,
                "goals": goals,
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average": os.getloadavg(),
                    "python": platform.python_version(),
                    "kernel": platform.release(),
                },
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
