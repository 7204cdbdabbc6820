"""Start-up time of the listing commands, against the floor of the interpreter and of typer.

    python bench/startup.py [--repeat 10] [--root PATH] [--baseline PATH]

Each command is a fresh `python -m agentevo.cli …` process (what the console script runs), with the repository
root (or --root) first on PYTHONPATH; with --baseline the agentevo commands also run from that checkout (say
`git worktree add /tmp/before HEAD~5`), in the same rounds, so that both see the same load:

    python -c pass           the interpreter alone (the floor)
    import typer             the interpreter plus typer and rich (the floor of any typer CLI)
    import typer, sqlmodel   plus pydantic and SQLAlchemy: the floor of a command that reads a SQL store
    --help                   agentevo --help
    memory list              agentevo memory list -w WS, on an empty store made as `run --memory on` makes one
    tools list               agentevo tools list -w WS, on an empty archive
    runs list                agentevo runs list -w WS, on an empty trajectory store

The commands take turns (round-robin), so load from other processes falls on all of them alike; the table
gives the median and the minimum wall time per command. Goal: ≤ 500 ms for each agentevo command.
Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report

GOAL_MS = 500.0

MAKE_STORE = """
import sys
from pathlib import Path
from agentevo.memory.store import ExperienceStore
ExperienceStore.for_workspace(Path(sys.argv[1]), mode="write").close()
"""


def commands(ws: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "agentevo.cli"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import typer": [sys.executable, "-c", "import typer"],
        "import typer, sqlmodel": [sys.executable, "-c", "import typer, sqlmodel"],
        "agentevo --help": [*cli, "--help"],
        "agentevo memory list": [*cli, "memory", "list", "-w", str(ws)],
        "agentevo tools list": [*cli, "tools", "list", "-w", str(ws)],
        "agentevo runs list": [*cli, "runs", "list", "-w", str(ws)],
    }


def env_for(root: Path) -> dict[str, str]:
    """The checkout first on the path; bytecode written (as an installed package has it), which the
    warm-up round does."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPATH": str(root),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def imported_from(env: dict[str, str], cwd: Path) -> str:
    code = "import agentevo, pathlib; print(pathlib.Path(agentevo.__file__).parent.parent)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one process, started in `cwd` (not a checkout: the current folder comes first on the
    path of `python -c` and `python -m`)."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument(
        "--baseline", type=Path, help="Another checkout (e.g. the commit before a change), timed in turn."
    )
    args = parser.parse_args()
    root = args.root.resolve()
    env = env_for(root)
    with tempfile.TemporaryDirectory(prefix="agentevo-startup-") as tmp:
        ws = Path(tmp)
        subprocess.run([sys.executable, "-c", MAKE_STORE, str(ws)], env=env, cwd=ws, check=True)
        runs = {name: (argv, env) for name, argv in commands(ws).items()}
        where = [imported_from(env, ws)]
        if args.baseline:
            base_env = env_for(args.baseline.resolve())
            for name, argv in commands(ws).items():
                if name.startswith("agentevo"):
                    runs[f"{name} (baseline)"] = (argv, base_env)
            where.append(imported_from(base_env, ws))
        print("agentevo imported from", " and ".join(where))
        for argv, e in runs.values():  # warm the page cache and the .pyc files; not counted
            run_once(argv, e, ws)
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, (argv, e) in runs.items():
                samples[name].append(run_once(argv, e, ws))
    load = os.getloadavg()
    rows, results = [], {}
    for name, s in sorted(
        samples.items(), key=lambda kv: list(runs).index(kv[0].removesuffix(" (baseline)"))
    ):
        median_ms, min_ms = 1000 * statistics.median(s), 1000 * min(s)
        goal = "" if not name.startswith("agentevo") else ("yes" if median_ms <= GOAL_MS else "NO")
        rows.append([name, round(median_ms, 1), round(min_ms, 1), goal])
        results[name] = {
            "median_ms": median_ms,
            "min_ms": min_ms,
            "n": len(s),
            "samples_ms": [1000 * x for x in s],
        }
    report(
        "startup",
        f"start-up, {args.repeat} runs each (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
        ["command", "median ms", "min ms", f"median ≤ {GOAL_MS:.0f} ms"],
        rows,
        {
            "root": str(root),
            "baseline": str(args.baseline.resolve()) if args.baseline else None,
            "imported_from": where,
            "repeat": args.repeat,
            "load_average": list(load),
            "goal_ms": GOAL_MS,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
