"""Screenshots of each workbench view for the README, from the test workspace.

usage: python -m tests.ui.screenshots [OUT_DIR]   (default docs/ui)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

from agentevo.envs.web.browser import CHROMIUM
from agentevo.ui.serve import start
from tests.ui.workspace import EVOLVE_ID, build


def views(made: dict) -> dict[str, str]:
    good, bad = made["good"], made["bad"]
    return {
        "runs": "/runs",
        "run": f"/runs/{made['runs'][0]}",
        "episode": "/episode?" + urlencode({"id": good, "step": 0}),
        "compare": "/compare?" + urlencode({"a": good, "b": bad}),
        "memory": "/memory",
        "memory-search": "/memory/search?" + urlencode({"q": "click the button", "suite": "miniwob-lite"}),
        "memory-log": "/memory/log",
        "memory-commit": None,  # the newest commit, found on the log page
        "memory-candidates": "/memory/candidates",
        "tools": "/tools",
        "tool": "/tools/add_numbers/v/2",
        "tool-diff": "/tools/add_numbers/diff?a=1&b=2",
        "tool-rejections": "/tools/rejections",
        "evolve": f"/evolve/{EVOLVE_ID}",
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        made = build(ws)
        server = start(ws)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                base = server.url.rstrip("/")
                for name, path in views(made).items():
                    if path is None:
                        page.goto(base + "/memory/log")
                        page.locator("#commits tbody tr a").first.click()
                    else:
                        page.goto(base + path)
                    if name == "evolve":
                        page.locator("svg.chart .pt").nth(3).hover()
                    page.screenshot(
                        path=str(out / f"{name}.png"), full_page=name not in ("episode", "evolve")
                    )
                browser.close()
        finally:
            server.stop()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/ui"))
