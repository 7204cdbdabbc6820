"""Shared fixtures. Real remote model calls are forbidden unless pytest runs with --live."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["AGENTEVO_FORBID_REMOTE"] = "1"  # also for the agentevo processes tests start

from agentevo.testing import forbid_remote_calls


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--live", action="store_true", help="allow real remote model calls (tests marked live)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--live"):
        return
    skip = pytest.mark.skip(reason="needs --live and an API key")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_remote_models(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.config.getoption("--live"):
        from agentevo.models import remote

        remote.ALLOW_REMOTE = True
        yield
        return
    with forbid_remote_calls():
        yield


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def find_pg_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's server binaries), for the "Postgres URL works"
    tests. Skips when the binaries are missing."""
    import shutil
    import socket
    import subprocess
    import tempfile

    pg_bin = find_pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="agentevo-pg-"))  # pytest's tmp dirs are private to root
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [*as_user, str(pg_bin / "initdb"), "-D", str(data / "db"), "--auth=trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_user,
            str(pg_bin / "pg_ctl"),
            "-D",
            str(data / "db"),
            "-o",
            opts,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)
