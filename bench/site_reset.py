"""Reset latency of the local sites, the hot path every local-web episode takes.

Measured in one run on the same machine:
  pickle reset      what `SiteSet.reset()` does (both sites, in-process)
  rebuild floor     the obvious alternative: parse seed.json again and rebuild the state
  HTTP reset        `POST /__reset` on both sites (what `agentevo sites reset` and remote runs do)
  HTTP floor        `GET /__health` on both sites: an HTTP round trip that does nothing
  episode reset     the local-web environment's whole `reset(task)`: site reset, a fresh browser context
                    logged in, the start page loaded and its accessibility tree read

    python bench/site_reset.py [--repeats 200]     → table on stdout, bench/results/site_reset.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentevo.envs.sites import SiteSet  # noqa: E402
from agentevo.envs.sites.base import assets_dir  # noqa: E402


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(1000 * (time.perf_counter() - started))
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "n": len(samples),
    }


def rebuild(sites: SiteSet) -> None:
    for site in sites.sites.values():
        seed = json.loads((assets_dir() / site.name / "seed.json").read_text())
        site.state = site.build_state(seed)


def http(urls: list[str], method: str) -> None:
    for url in urls:
        req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()


def episode_resets(repeats: int) -> dict[str, float]:
    from agentevo.benchmarks import get_suite
    from agentevo.benchmarks.localweb.driver import LocalWebEnvironment
    from agentevo.envs.web import WebOptions

    tasks = get_suite("local-web").tasks("all")
    env = LocalWebEnvironment(WebOptions(screenshots=False))
    try:
        env.reset(tasks[0])  # the browser starts here; not counted
        cycle = iter(range(10**9))
        return timed(lambda: env.reset(tasks[next(cycle) % len(tasks)]), repeats)
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument(
        "--episodes", type=int, default=10, help="episode resets (each opens a browser context)"
    )
    args = parser.parse_args()
    sites = SiteSet.start()
    try:
        rows = {
            "pickle reset": timed(sites.reset, args.repeats),
            "rebuild floor": timed(lambda: rebuild(sites), args.repeats),
            "HTTP reset": timed(
                lambda: http([f"{u}/__reset" for u in sites.urls.values()], "POST"), args.repeats
            ),
            "HTTP floor": timed(
                lambda: http([f"{u}/__health" for u in sites.urls.values()], "GET"), args.repeats
            ),
        }
    finally:
        sites.stop()
    rows["episode reset"] = episode_resets(args.episodes)
    ratios = {
        "pickle reset / rebuild": round(rows["pickle reset"]["p50_ms"] / rows["rebuild floor"]["p50_ms"], 3),
        "HTTP reset / HTTP floor": round(rows["HTTP reset"]["p50_ms"] / rows["HTTP floor"]["p50_ms"], 3),
    }
    print(f"{'measure':16s} {'p50 ms':>9s} {'p95 ms':>9s} {'mean ms':>9s} {'n':>5s}")
    for name, r in rows.items():
        print(f"{name:16s} {r['p50_ms']:9.3f} {r['p95_ms']:9.3f} {r['mean_ms']:9.3f} {r['n']:5d}")
    for name, value in ratios.items():
        print(f"{name}: {value:.3f}")
    out = ROOT / "bench" / "results" / "site_reset.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "ratios": ratios}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
