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
