"""How long an archived tool takes to answer, against the floors measured in the same run.

    sandboxed call    ToolExecutor.perform on a code tool: argument check, a fresh sandbox, the harness
                      driver, the JSON result (what every `call NAME {...}` of an episode costs)
    bare python3      /usr/bin/python3 (the sandbox's interpreter) run by the same process helper, no
                      sandbox, no driver (the floor)
    recall            ToolRecall.recall over an archive of N tools (embedding search + integrity checks)

usage: python bench/tool_call.py [--calls 30] [--tools 50] [--backend bwrap]
Prints a table and writes bench/results/tool_call.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from agentevo.envs.sandbox.bwrap import available
from agentevo.envs.sandbox.process import run_capped
from agentevo.records import Observation, Task, Tool
from agentevo.testing import HashEmbedder
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.execute import ToolExecutor
from agentevo.tools.recall import ToolRecall
from agentevo.tools.settings import ArchiveSettings

RESULTS = Path(__file__).parent / "results"
SOURCE = (
    "def scale_{i}(values: list[float], factor: float) -> list[float]:\n"
    '    """Multiply each value by {i}."""\n'
    "    return [v * factor * {i} for v in values]\n"
)
TESTS = "from tool import scale_{i}\n\n\ndef test_scales():\n    assert scale_{i}([1.0], 2.0) == [{double}]\n"


def timed(fns: dict[str, object], n: int) -> dict[str, list[float]]:
    """Round-robin, so load on a shared machine falls on every path alike."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()  # type: ignore[operator]
            out[name].append((time.perf_counter() - started) * 1000)
    return out


def row(name: str, ms: list[float]) -> dict[str, float | str]:
    ms = sorted(ms)
    return {
        "path": name,
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--tools", type=int, default=50)
    parser.add_argument("--backend", default="bwrap" if available() else "local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ArchiveSettings(sandbox=args.backend, embedder="hash")
        archive = FileToolArchive(Path(tmp) / "tools_archive", settings=settings, embedder=HashEmbedder())
        for i in range(1, args.tools + 1):
            archive.register(
                Tool(
                    name=f"scale_{i}",
                    kind="code",
                    description="",
                    source=SOURCE.format(i=i),
                    tests=TESTS.format(i=i, double=2.0 * i),
                )
            )
        tool = archive.get("scale_1")
        executor = ToolExecutor(archive.sandbox_factory)
        call = {"values": [1.0, 2.0, 3.0], "factor": 2.0}
        assert executor.perform(tool, call).ok
        bare = [
            "/usr/bin/python3",  # the interpreter the sandbox runs (not a pyenv shim on PATH)
            "-I",
            "-S",
            "-c",
            "import json; print(json.dumps([v * 2.0 for v in [1.0, 2.0, 3.0]]))",
        ]
        recall = ToolRecall(archive, k=3)
        task = Task(id="b", suite="bench", kind="code", instruction="multiply every value by a factor")
        paths = {
            "bare python3 subprocess (floor)": lambda: run_capped(bare, timeout_s=30, output_bytes=65536),
            f"sandboxed call ({args.backend})": lambda: executor.perform(tool, call),
            f"recall over {args.tools} tools": lambda: recall.recall(task, Observation(text="")),
        }
        rows = [row(name, ms) for name, ms in timed(paths, args.calls).items()]
    ratio = rows[1]["p50_ms"] / rows[0]["p50_ms"]
    print(f"{'path':40} {'n':>4} {'p50 ms':>9} {'p95 ms':>9}")
    for r in rows:
        print(f"{r['path']:40} {r['n']:>4} {r['p50_ms']:>9} {r['p95_ms']:>9}")
    print(f"sandboxed call / bare subprocess (p50): {ratio:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tool_call.json").write_text(
        json.dumps({"rows": rows, "ratio_p50": round(ratio, 2)}, indent=2)
    )


if __name__ == "__main__":
    main()
