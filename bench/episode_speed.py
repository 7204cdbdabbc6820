"""Whole agent episodes with the embedded model: episodes per minute by engine and concurrency, and how
often a reply is a valid action, with and without constrained decoding.

Each configuration is one `agentevo run` on the same test tasks, in a fresh process and workspace:
    engine        llama (default) or transformers
    constrain     on: every reply follows the grammar of what the environment accepts in that state
    concurrency   episodes in parallel (-j), sharing one model
Reported per configuration: wall seconds (model load included), episodes per minute, successes, and the
format validity — the share of replies that the environment ran as an action without an error (a reply that
does not parse, names an element that is not on the page, or fails when run counts as invalid).

`python bench/episode_speed.py --suites miniwob-lite,os --engines llama,transformers --constrain off
--concurrency 1,4 --limit 10`  (a grid; every combination runs); writes bench/results/<--name>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import report

from agentevo.runs.store import TrajectoryStore


def run_once(suite: str, engine: str, constrain: str, jobs: int, args: argparse.Namespace) -> dict[str, Any]:
    ws = Path(tempfile.mkdtemp(prefix="episode-speed-"))
    cmd = [
        *(sys.executable, "-m", "agentevo.cli", "run", "--suite", suite, "--split", "test"),
        *(("--limit", str(args.limit)) if args.limit else ()),
        *("--max-steps", str(args.max_steps), "--max-tokens", str(args.max_tokens)),
        *("--engine", engine, "--constrain", constrain, "-j", str(jobs), "--json", "-w", str(ws)),
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads(done.stdout)
    store = TrajectoryStore.for_workspace(ws)
    steps = [s for t in store.trajectories([summary["run_id"]]) for s in t.steps]
    valid = sum(s.action is not None and not s.observation.error for s in steps)
    return {
        "suite": suite,
        "engine": engine,
        "constrain": constrain,
        "concurrency": jobs,
        "episodes": summary["episodes"],
        "successes": summary["successes"],
        "wall_s": wall,
        "episodes_per_min": 60 * summary["episodes"] / wall,
        "replies": len(steps),
        "valid_replies": valid,
        "validity": valid / len(steps) if steps else 0.0,
        "tokens": summary["tokens"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default="miniwob-lite,os")
    parser.add_argument("--engines", default="llama,transformers")
    parser.add_argument("--constrain", default="off,on")
    parser.add_argument("--concurrency", default="1")
    parser.add_argument("--limit", type=int, default=10, help="test tasks per suite; 0: the whole split")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--name", default="episode_speed")
    args = parser.parse_args()
    grid = itertools.product(
        args.suites.split(","),
        args.engines.split(","),
        args.constrain.split(","),
        [int(j) for j in args.concurrency.split(",")],
    )
    load_before = os.getloadavg()[0]
    results = [run_once(*combo, args) for combo in grid]
    rows = [
        [
            r["suite"],
            r["engine"],
            r["constrain"],
            r["concurrency"],
            f"{r['successes']}/{r['episodes']}",
            r["wall_s"],
            r["episodes_per_min"],
            f"{r['valid_replies']}/{r['replies']}",
            r["validity"],
        ]
        for r in results
    ]
    data = {
        "settings": vars(args),
        "split": "test",
        "load_before": load_before,
        "results": results,
        "load_after": os.getloadavg()[0],
    }
    report(
        args.name,
        "whole episodes, embedded SmolLM2-135M (test split, one run each)",
        [
            "suite",
            "engine",
            "constrain",
            "-j",
            "solved",
            "wall s",
            "episodes/min",
            "valid replies",
            "validity",
        ],
        rows,
        data,
    )
    print(f"load average {load_before:.1f} before, {data['load_after']:.1f} after")


if __name__ == "__main__":
    main()
