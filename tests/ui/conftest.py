"""Fixtures of the workbench tests: one built workspace per session, copied for each test that changes it;
the workbench served from a thread on a free port; the real Chromium (Debian's) through Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from agentevo.envs.web.browser import CHROMIUM
from agentevo.ui.serve import Running, start
from tests.ui.workspace import build


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    ws = tmp_path_factory.mktemp("ui") / "ws"
    ws.mkdir()
    return ws, build(ws)


@pytest.fixture
def ws(built: tuple[Path, dict], tmp_path: Path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(built[0], copy)
    return copy


@pytest.fixture
def made(built: tuple[Path, dict]) -> dict:
    return built[1]


@pytest.fixture
def server(ws: Path) -> Iterator[Running]:
    running = start(ws)
    yield running
    running.stop()


@pytest.fixture
def read_only_server(ws: Path) -> Iterator[Running]:
    running = start(ws, read_only=True)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
