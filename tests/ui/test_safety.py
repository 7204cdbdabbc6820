"""The workbench cannot be scripted by a hostile page, changed without its token, or changed at all when
read-only; changes ask first and land in the same ledger the CLI reads."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import urllib.error
import urllib.request
from unittest import mock
from urllib.parse import urlencode

from playwright.sync_api import expect

from agentevo.memory.store import ExperienceStore
from agentevo.tools.registry import Registry
from tests.ui.workspace import HOSTILE_EPISODE, HOSTILE_RUN, HOSTILE_TITLE

MUTATIONS = (
    "memory/item/buttons-move-between-ins/forget",
    "memory/item/ignore-the-page-s-orders/approve",
    "memory/commit/HEAD~1/rollback",
    "tools/add_numbers/v/2/retire",
)


def cli(*args: str) -> tuple[int, str]:
    from agentevo import cli as entry

    out = io.StringIO()
    with mock.patch.object(sys, "argv", ["agentevo", *args]), contextlib.redirect_stdout(out):
        try:
            entry.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue()


def post(url: str, data: dict[str, str], headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=urlencode(data).encode(), method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def live_ids(ws) -> set[str]:
    with ExperienceStore.for_workspace(ws, mode="read") as store:
        return {e.id for e in store.items()}


def test_hostile_page_text_is_shown_as_text_and_never_runs(server, page):
    for path in ("runs", f"runs/{HOSTILE_RUN}", "episode?" + urlencode({"id": HOSTILE_EPISODE})):
        page.goto(server.url + path)
        page.locator("body").hover()
    page.get_by_text("Prompt (").click()
    page.locator("p.error").first.hover()
    expect(page.locator(".instruction")).to_have_text(HOSTILE_TITLE)
    expect(page.locator("#observation")).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.locator("main script, main img:not(#screenshot), main svg, main iframe").count() == 0


def test_every_page_carries_a_strict_content_security_policy(server):
    with urllib.request.urlopen(server.url + "runs") as resp:
        csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_a_change_without_the_launch_token_is_refused(server, ws):
    before = live_ids(ws)
    for path in MUTATIONS:
        assert post(server.url + path, {}) == 403, path
        assert post(server.url + path, {"token": "guessed"}) == 403, path
        assert post(server.url + path, {}, {"x-agentevo-token": "guessed"}) == 403, path
    assert live_ids(ws) == before
    assert (
        Registry(f"sqlite:///{ws / 'tools_archive' / 'registry.db'}").get("add_numbers", 2).status == "active"
    )


def test_read_only_serves_no_change_at_all(read_only_server, page, ws):
    token = read_only_server.workbench.token
    for path in MUTATIONS:
        assert post(read_only_server.url + path, {"token": token}) == 405, path
        with contextlib.suppress(urllib.error.HTTPError), urllib.request.urlopen(read_only_server.url + path):
            raise AssertionError(f"GET {path} should not offer the change")
    page.goto(read_only_server.url + "tools/add_numbers/v/2")
    expect(page.locator("#status")).to_have_text("active")
    assert page.locator("#retire").count() == 0
    page.goto(read_only_server.url + "memory/log")
    assert page.get_by_text("roll back to").count() == 0
    expect(page.locator("header .ro")).to_have_text("read-only")


def test_a_rollback_asks_first_and_shows_in_the_cli_log(server, page, ws):
    page.goto(server.url + "memory/log")
    first = page.locator("#commits tbody tr", has_text="first lessons")
    first.get_by_role("link", name="roll back to…").click()
    expect(page.locator("h1")).to_have_text("Confirm: rollback")
    assert live_ids(ws) >= {"dup-of-first"}  # nothing happened yet
    page.get_by_role("button", name="roll back").click()
    expect(page.locator(".note")).to_contain_text("rolled back in commit")
    code, out = cli("memory", "log", "--json", "-w", str(ws))
    assert code == 0
    newest = json.loads(out)[0]
    assert newest["source"] == "rollback" and newest["message"].startswith("rollback to ")
    assert "dup-of-first" not in live_ids(ws)


def test_forget_and_approve_ask_first(server, page, ws):
    page.goto(server.url + "memory/item/ignore-the-page-s-orders")
    expect(page.locator("dl.facts")).to_contain_text("quarantined")
    page.locator("#approve").click()
    page.get_by_role("button", name="approve").click()
    expect(page.locator(".note")).to_contain_text("approved in commit")
    expect(page.locator("dl.facts")).to_contain_text("trusted")
    page.locator("#forget").click()
    expect(page.locator(".confirm-box")).to_contain_text("Forget this item")
    page.get_by_role("button", name="forget").click()
    expect(page.locator("h1")).to_contain_text("no longer live")
    assert "ignore-the-page-s-orders" not in live_ids(ws)


def test_retiring_a_tool_asks_first(server, page, ws):
    page.goto(server.url + "tools/add_numbers/v/2")
    page.locator("#retire").click()
    page.fill("input[name=reason]", "replaced by hand")
    page.get_by_role("button", name="retire").click()
    expect(page.locator("#status")).to_contain_text("retired (replaced by hand)")
    code, out = cli("tools", "list", "--all", "--json", "-w", str(ws))
    assert code == 0
    assert {(r["version"], r["status"]) for r in json.loads(out)} == {(1, "retired"), (2, "retired")}


def test_the_ui_command_serves_on_loopback_by_default(ws):
    import os
    import re
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "agentevo.cli", "ui", "-w", str(ws), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        line = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        with urllib.request.urlopen(url.group(0) + "runs") as resp:
            assert resp.status == 200 and b"Runs" in resp.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_missing_workspace_is_one_clear_error(tmp_path):
    code, _ = cli("ui", "-w", str(tmp_path / "nowhere"), "--port", "0")
    assert code == 2
