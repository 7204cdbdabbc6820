"""The ledger on a real PostgreSQL server (started for this module, when its binaries are installed)."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from agentevo.memory.curator import Curator
from agentevo.memory.store import ExperienceStore
from agentevo.testing import HashEmbedder
from tests.memory.builders import insight


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd: list[str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:  # the server refuses to run as root
        cmd = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def pg_url():
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries are not installed")
    folder = Path(tempfile.mkdtemp(prefix="agentevo-pg-", dir="/tmp"))
    folder.chmod(0o777)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    done = as_postgres([initdb, "-D", f"{folder}/data", "-A", "trust", "-U", "postgres"])
    assert done.returncode == 0, done.stderr
    opts = f"'-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off'"
    done = as_postgres([pg_ctl, "-D", f"{folder}/data", "-o", opts, "-w", "-l", f"{folder}/log", "start"])
    assert done.returncode == 0, done.stderr
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        as_postgres([pg_ctl, "-D", f"{folder}/data", "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def test_commits_merge_search_rollback_and_diff_work_on_postgres(pg_url, tmp_path):
    store = ExperienceStore(tmp_path / "memory_store", url=pg_url, embedder=HashEmbedder(64))
    curator = Curator(store)
    c1 = store.apply(curator.plan([insight("Sort the numbers first.", id="a", trajectory="r:1#0")]))
    store.apply(curator.plan([insight("Sort the numbers first!", id="b", trajectory="r:2#0")]))
    store.apply(curator.plan([insight("Use a dict to count the words.", id="c")]))
    assert [e.id for e in store.items()] == ["a", "c"]
    assert store.get("a").provenance.trajectory_ids == ("r:1#0", "r:2#0")
    assert store.search("count words with a dict", k=1)[0][0].id == "c"
    store.rollback(c1.id)
    assert [e.id for e in store.items()] == ["a"] and store.get("a").provenance.trajectory_ids == ("r:1#0",)
    assert {e.id for e in store.diff(c1.id, "HEAD~1").added} == {"c"}
    assert store.index().ids() == {"a"}
    store.close()
    again = ExperienceStore(tmp_path / "memory_store", url=pg_url)
    assert again.embedder_name == "hash:64" and [e.id for e in again.items()] == ["a"]
    again.close()
