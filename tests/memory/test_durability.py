"""Nothing acknowledged is lost: a memory writer is SIGKILLed at random points, 100 times; after each kill
every commit it reported is present with what it wrote, SQLite is intact, no item is half-written, and
the next writer's open brings the Chroma index in step with SQL (same ids, same head, a probe query finds
its item)."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentevo.records import Experience

WRITER = Path(__file__).with_name("writer_loop.py")
ROOT = Path(__file__).resolve().parents[2]
CYCLES = int(os.environ.get("AGENTEVO_KILL_CYCLES", "100"))


class Writer:
    """The writer process and the lines it printed (read on a thread so the pipe never fills)."""

    def __init__(self, store_dir: Path, seed: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(store_dir), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("ready "):
                self.ready.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)

    def report(self) -> dict | None:
        line = next((ln for ln in self.lines if ln.startswith("ready ")), None)
        return json.loads(line[6:]) if line else None

    def acks(self) -> list[dict]:
        return [json.loads(ln[4:]) for ln in self.lines if ln.startswith("ack ")]


def check_sql(db: Path, acked: list[dict]) -> None:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        commits = dict(con.execute("SELECT id, seq FROM memory_commits"))
        for ack in acked:
            assert ack["commit"] in commits, f"acknowledged commit {ack['commit']} lost"
            seq = commits[ack["commit"]]
            for item_id, content in ack["wrote"].items():
                row = con.execute(
                    "SELECT data FROM memory_history WHERE seq = ? AND item_id = ?", (seq, item_id)
                ).fetchone()
                assert row is not None, f"commit {ack['commit']} lost its write of {item_id}"
                data = None if row[0] is None else json.loads(row[0])
                assert (data and data["content"]) == content if content is not None else data is None
        for data, vector in con.execute("SELECT data, vector FROM memory_items"):
            Experience.model_validate_json(data)  # no half-written item
            assert len(vector) == 32 * 4
    finally:
        con.close()


def check_index(report: dict | None) -> None:
    assert report is not None
    assert report["same_ids"] and report["same_head"] and report["probe_ok"], report
    assert report["sql"] == report["chroma"]


@pytest.mark.slow
@pytest.mark.timeout(7200)  # ~5 s a cycle on an idle 2-core machine: two process starts and a probe
def test_sigkill_at_random_points_loses_no_acknowledged_commit_and_the_index_is_repaired(tmp_path):
    rng = random.Random(20261201)
    store_dir = tmp_path / "memory_store"
    acked: list[dict] = []
    opens: list[dict] = []
    early = during = 0
    for cycle in range(CYCLES):
        writer = Writer(store_dir, seed=cycle)
        if cycle and rng.random() < 0.15:  # anywhere from start-up through the index repair
            time.sleep(rng.uniform(0.2, 6.0))
        else:  # after 0-6 acknowledged commits, at a random point of the commit that follows
            assert writer.ready.wait(timeout=180), (
                writer.proc.stderr.read() if writer.proc.poll() else "no ready"
            )
            started, wanted = time.monotonic(), rng.randint(0, 6)
            while (
                len(writer.acks()) < wanted
                and writer.proc.poll() is None
                and time.monotonic() - started < 120
            ):
                time.sleep(0.005)
            per_commit = (time.monotonic() - started) / max(1, wanted)
            time.sleep(rng.uniform(0.0, min(per_commit, 2.0) if wanted else 0.3))
        writer.kill()
        report, acks = writer.report(), writer.acks()
        if report is not None:
            check_index(report)  # the repair this writer did at its open, after the previous kill
            opens.append(report["opened"])
            during += 1
        else:
            early += 1
        acked += acks
        check_sql(store_dir / "memory.db", acks if cycle % 10 else acked)
        print(f"cycle {cycle}: {'ready' if report else 'killed before ready'}, {len(acks)} acks", flush=True)
    final = Writer(store_dir, seed=10_000)
    assert final.ready.wait(timeout=180)
    final.kill()
    check_index(final.report())
    check_sql(store_dir / "memory.db", acked)
    print(
        f"{CYCLES} kills ({early} before the writer was ready, {during} while committing); "
        f"{len(acked)} acknowledged commits, all present; final index {final.report()}"
    )
    seconds = sorted(o["seconds"] for o in opens)
    probed, wiped = sum(o["probed"] for o in opens), sum(bool(o["wiped"]) for o in opens)
    upserted, deleted = sum(o["upserted"] for o in opens), sum(o["deleted"] for o in opens)
    print(
        f"index opens after a kill: {probed} probed, {wiped} wiped and rebuilt, {upserted} vectors upserted "
        f"and {deleted} deleted in repairs; open+repair median "
        f"{seconds[len(seconds) // 2]:.1f} s, max {seconds[-1]:.1f} s"
    )
    assert len(acked) >= CYCLES  # on average three acknowledged commits before each commit-time kill
