"""Debian's Chromium under Playwright's sync API, each browser on a thread of its own.

Playwright's sync objects may only be touched from the thread that made them, but the runner creates an
environment in a worker thread and closes it from the main one. So every browser lives on a private
one-thread executor (`BrowserThread`) and every call into it is handed to that thread.
"""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from agentevo.errors import EnvError

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class BrowserThread:
    """Runs callables on one dedicated thread; calls from that thread itself run directly."""

    def __init__(self, name: str = "browser") -> None:
        self.pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.ident: int | None = None
        self.pool.submit(self._remember).result()

    def _remember(self) -> None:
        self.ident = threading.get_ident()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if threading.get_ident() == self.ident:
            return fn(*args, **kwargs)
        return self.pool.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


def chromium_path(explicit: str | None = None) -> str:
    path = explicit or CHROMIUM
    if shutil.which(path) is None:
        raise EnvError(f"no Chromium at {path}: install Debian's package (apt-get install chromium)")
    return path


def launch(executable: str | None = None, *, headless: bool = True) -> tuple[Any, Any]:
    """Start Playwright and Chromium; returns (playwright, browser). Call on the browser's own thread."""
    from playwright.sync_api import Error, sync_playwright

    path = chromium_path(executable)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=path, headless=headless, args=list(FLAGS))
    except Error as exc:
        playwright.stop()
        raise EnvError(f"Chromium at {path} did not start: {str(exc).splitlines()[0]}") from None
    return playwright, browser
