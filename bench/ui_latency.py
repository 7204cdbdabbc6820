"""Workbench page times on a large workspace: 10k episodes and 100k memory items.

    python bench/ui_latency.py [--episodes 10000] [--items 100000] [--repeat 60]

The workspace is generated through the stores' own schema: runs, episodes (each with a 6-step web
trajectory of ~1.5 kB observations) and their steps bulk-inserted into the trajectory store's tables; memory
items committed through ExperienceStore.apply in batches, with HashEmbedder vectors (2,000 base texts,
repeated with small noise, over 20 suites). The workbench is served by uvicorn in a thread, as `agentevo ui`
serves it, and every page is fetched over HTTP (one kept-alive connection) and read to the end:

    runs list     /runs, a random page of the list (50 runs, success and Wilson interval each)
    run view      /runs/<id>, a random page of its episodes
    episode view  /episode?id=…&step=…, a random episode and step
    memory items  /memory, a random page of the 100k items
    memory search /memory/search?q=…&suite=…, as the agent searches (20 candidates, ranked)

Goal: p95 ≤ 300 ms for the runs list, an episode view and memory search. Writes bench/results/ui_latency.json.
"""

from __future__ import annotations

import argparse
import http.client
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlparse

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentevo.memory.store import Change, ExperienceStore
from agentevo.records import (
    Action,
    Experience,
    Observation,
    RunManifest,
    Scope,
    Step,
    Task,
    Trajectory,
    utcnow,
)
from agentevo.runs.store import EpisodeRow, StepRow, TrajectoryStore
from agentevo.testing import HashEmbedder
from agentevo.ui.serve import start
from bench._common import report, summary_ms

SUITES = [f"suite-{i:02d}" for i in range(20)]
WORDS = (
    "click button search product order review forum post price cart login account filter sort page "
    "submit form field date checkbox select option menu tab link image title comment reply vote"
).split()
GOAL_MS = 300.0


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def trajectory(rng: random.Random, run_id: str, task_id: str, i: int) -> Trajectory:
    task = Task(id=task_id, suite="bench-web", kind="web", instruction=f"Task {i}: {text(rng, 14)}")
    steps = tuple(
        Step(
            index=k,
            action=Action(name="click", args={"id": str(rng.randint(1, 400))}, raw=f"click [{k}]"),
            observation=Observation(text="\n".join(f"[{j}] link '{text(rng, 4)}'" for j in range(60))),
            model_reply=f"I will click.\n```click [{k}]```",
            tokens_in=900,
            tokens_out=20,
            seconds=0.8,
        )
        for k in range(6)
    )
    messages = [
        {"role": "system", "content": "You are a web agent."},
        {"role": "user", "content": task.instruction},
    ]
    for s in steps:
        messages += [
            {"role": "assistant", "content": s.model_reply},
            {"role": "user", "content": s.observation.text},
        ]
    outcome = "success" if rng.random() < 0.4 else "failure"
    return Trajectory(
        id=f"{run_id}:{task_id}#0",
        run_id=run_id,
        task=task,
        steps=steps,
        messages=tuple(messages),
        outcome=outcome,  # type: ignore[arg-type]
        reward=1.0 if outcome == "success" else 0.0,
        model="bench",
    )


def fill_runs(ws: Path, episodes: int, per_run: int, rng: random.Random) -> tuple[list[str], list[str]]:
    store = TrajectoryStore.for_workspace(ws)
    run_ids, episode_ids = [], []
    start_at = utcnow() - timedelta(days=30)
    for r in range(-(-episodes // per_run)):
        run_id = f"bench-run-{r:04d}"
        store.create_run(RunManifest(run_id=run_id, model="bench", suite="bench-web", split="test"))
        run_ids.append(run_id)
        episode_rows, step_rows = [], []
        for e in range(min(per_run, episodes - r * per_run)):
            traj = trajectory(rng, run_id, f"task-{e:05d}", e)
            data = traj.model_dump(mode="json")
            episode_rows.append(
                {
                    "id": traj.id, "run_id": run_id, "task_id": traj.task.id, "sample": 0,
                    "suite": "bench-web",
                    "template_id": "", "status": "done", "outcome": traj.outcome, "reward": traj.reward,
                    "steps": len(traj.steps), "tokens": 920 * len(traj.steps), "cost": 0.0, "seconds": 4.8,
                    "model": "bench", "created_at": start_at + timedelta(seconds=r * per_run + e),
                    "task": data["task"], "trajectory": data,
                }
            )  # fmt: skip
            step_rows += [
                {"episode_id": traj.id, "index": s["index"], "data": s, "created_at": start_at}
                for s in data["steps"]
            ]
            episode_ids.append(traj.id)
        with store.engine.begin() as conn:
            conn.execute(insert(EpisodeRow.__table__), episode_rows)
            conn.execute(insert(StepRow.__table__), step_rows)
        store.finish_run(run_id, "done")
    store.engine.dispose()
    return run_ids, episode_ids


def fill_memory(ws: Path, items: int, rng: random.Random) -> list[str]:
    """Items through ExperienceStore.apply (the ledger's own path), HashEmbedder vectors, in batches."""
    embedder = HashEmbedder(dim=64)
    bases = [f"{text(rng, 8)} then {text(rng, 6)}" for _ in range(2000)]
    base_vecs = np.asarray(embedder(bases), dtype=np.float32)
    nprng = np.random.default_rng(0)
    with ExperienceStore.for_workspace(ws, embedder=embedder, mode="write", use_index=False) as store:
        step = 10_000
        for start_i in range(0, items, step):
            n = min(step, items - start_i)
            which = nprng.integers(0, len(bases), n)
            vecs = base_vecs[which] + nprng.normal(0, 0.05, (n, base_vecs.shape[1])).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            changes = [
                Change(
                    "add",
                    f"m{start_i + k:06d}",
                    Experience(
                        id=f"m{start_i + k:06d}",
                        kind=("insight", "workflow", "pitfall")[k % 3],  # type: ignore[arg-type]
                        title=bases[which[k]][:60],
                        content=bases[which[k]] + f" (variant {start_i + k})",
                        scope=Scope(suite=SUITES[(start_i + k) % len(SUITES)]),
                    ),
                    vector=vecs[k],
                )
                for k in range(n)
            ]
            store.apply(changes, message=f"bench items {start_i}+", source="bench")
    return bases


def fetch(conn: http.client.HTTPConnection, path: str) -> float:
    t = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - t
    if resp.status != 200:
        raise SystemExit(f"{path}: HTTP {resp.status}: {body[:300]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-run", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=60)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        t0 = time.perf_counter()
        run_ids, episode_ids = fill_runs(ws, args.episodes, args.per_run, rng)
        t1 = time.perf_counter()
        bases = fill_memory(ws, args.items, rng)
        t2 = time.perf_counter()
        made = f"{len(episode_ids):,} episodes in {t1 - t0:.0f} s, {args.items:,} items in {t2 - t1:.0f} s"
        print(f"generated {made}")
        server = start(ws, read_only=True)
        url = urlparse(server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        run_pages = -(-len(run_ids) // 50)
        pages = {
            "runs list": lambda: f"/runs?page={rng.randint(1, run_pages)}",
            "run view": lambda: f"/runs/{rng.choice(run_ids)}?page={rng.randint(1, -(-args.per_run // 50))}",
            "episode view": lambda: (
                "/episode?" + urlencode({"id": rng.choice(episode_ids), "step": rng.randint(0, 5)})
            ),
            "memory items": lambda: f"/memory?page={rng.randint(1, -(-args.items // 50))}",
            "memory search": lambda: (
                "/memory/search?" + urlencode({"q": rng.choice(bases), "suite": rng.choice(SUITES)})
            ),
        }
        try:
            for make in pages.values():  # first use: stores opened, the vector table loaded
                for _ in range(3):
                    fetch(conn, make())
            samples: dict[str, list[float]] = {name: [] for name in pages}
            for _ in range(args.repeat):  # interleaved, so machine load hits every page alike
                for name, make in pages.items():
                    samples[name].append(fetch(conn, make()))
        finally:
            conn.close()
            server.stop()
    results = {name: summary_ms(s) for name, s in samples.items()}
    goals = {"runs list", "episode view", "memory search"}
    rows = [
        [name, f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['mean_ms']:.1f}", r["n"],
         ("yes" if r["p95_ms"] <= GOAL_MS else "NO") if name in goals else "–"]
        for name, r in results.items()
    ]  # fmt: skip
    report(
        "ui_latency",
        f"workbench page times: {len(episode_ids):,} episodes, {args.items:,} memory items (ms)",
        ["page", "p50", "p95", "mean", "n", f"p95 ≤ {GOAL_MS:.0f} ms"],
        rows,
        {
            "episodes": len(episode_ids),
            "items": args.items,
            "runs": len(run_ids),
            "goal_p95_ms": GOAL_MS,
            "pages": results,
            "generate_seconds": {"episodes": round(t1 - t0, 1), "memory": round(t2 - t1, 1)},
        },
    )


if __name__ == "__main__":
    main()
