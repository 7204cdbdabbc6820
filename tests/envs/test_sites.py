"""The local sites over real HTTP: pages, login, state changes, reset to the seed, isolation, the CLI."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from agentevo.envs.sites import ACCOUNTS, RemoteSites, SiteSet, lease, load_seed, release
from agentevo.envs.sites.base import sign, verify

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sites():
    s = SiteSet.start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sites):
    sites.reset()


class Browser:
    """A cookie-keeping HTTP client: enough to drive the sites' forms without Chromium."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data) as r:
                return r.status, r.geturl().removeprefix(self.base), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, path, exc.read().decode()

    def login(self, site: str) -> None:
        account = ACCOUNTS[site]
        status, _, _ = self.get("/login", {"username": account["username"], "password": account["password"]})
        assert status == 200


def shop(sites) -> Browser:
    b = Browser(sites.urls["shop"])
    b.login("shop")
    return b


def forum(sites) -> Browser:
    b = Browser(sites.urls["forum"])
    b.login("forum")
    return b


def test_every_page_of_the_shop_answers(sites):
    b = shop(sites)
    product = load_seed("shop")["products"][0]
    for path in (
        "/",
        "/category/electronics?sort=price_desc&p=2",
        "/search?q=chair&sort=rating",
        f"/product/{product['slug']}",
        "/account",
        "/account/address",
        "/account/orders",
        "/wishlist",
        "/cart",
    ):
        status, _, body = b.get(path)
        assert status == 200, path
        assert "</html>" in body


def test_every_page_of_the_forum_answers(sites):
    b = forum(sites)
    for path in (
        "/",
        "/forums",
        "/f/books?sort=top&p=1",
        "/search?q=tomato",
        "/subscriptions",
        "/user/liftheavy",
    ):
        status, _, _ = b.get(path)
        assert status == 200, path


def test_unknown_pages_and_bad_input_are_answered_not_crashed(sites):
    b = shop(sites)
    assert b.get("/nope")[0] == 404
    assert b.get("/product/no-such-thing")[0] == 404
    assert b.get("/account/orders/999")[0] == 404
    assert b.get("/category/electronics?p=zzz")[0] == 200
    assert b.get("/cart/add", {"product_id": "abc"})[0] == 404
    status, url, _ = b.get("/cart/add", {"product_id": "1", "qty": "-4"})
    assert status == 200 and "bad-qty" in url
    assert Browser(sites.urls["forum"]).get("/f/books/notanumber")[0] == 404


def test_private_pages_send_guests_to_the_login(sites):
    _status, url, body = Browser(sites.urls["shop"]).get("/account/orders")
    assert url == "/login?next=/account/orders"
    assert 'for="username">Email<' in body


def test_a_wrong_password_is_refused(sites):
    status, _, body = Browser(sites.urls["shop"]).get(
        "/login", {"username": ACCOUNTS["shop"]["username"], "password": "nope"}
    )
    assert status == 401 and "incorrect" in body


def test_session_cookies_are_signed_per_site():
    assert verify("shop", sign("shop", "emma")) == "emma"
    assert verify("shop", sign("forum", "emma")) is None
    assert verify("shop", "emma.forged") is None


def test_login_never_redirects_off_the_site(sites):
    account = ACCOUNTS["shop"]
    form = {"username": account["username"], "password": account["password"], "next": "//evil.example/x"}
    assert Browser(sites.urls["shop"]).get("/login", form)[1] == "/"


def test_an_order_is_placed_and_a_reset_removes_it(sites):
    b = shop(sites)
    b.get("/cart/add", {"product_id": "5", "qty": "2"})
    _status, url, body = b.get("/checkout", {"shipping": "Express"})
    assert url.startswith("/account/orders/") and "Thank you for your purchase" in body
    number = url.split("/")[-1].split("?")[0]
    assert "Qty: 2" in body and "Express Shipping" in body
    assert b.get("/account/orders/latest")[1] == f"/account/orders/{number}"
    seconds = sites.reset()
    assert seconds >= 0
    assert b.get(f"/account/orders/{number}")[0] == 404
    assert b.get("/cart")[2].count("cart-empty") == 1


def test_a_reset_restores_exactly_the_seed(sites):
    before = {n: json.loads(Browser(u).get("/__state")[2])["state"] for n, u in sites.urls.items()}
    b, f = shop(sites), forum(sites)
    b.get("/wishlist/add", {"product_id": "2"})
    b.get("/product/leather-belt/review", {"nickname": "E", "title": "t", "text": "x", "rating": "4"})
    b.get(
        "/account/address", dict.fromkeys(("street", "city", "region", "postcode", "country", "phone"), "X")
    )
    f.get("/f/books/submit", {"title": "A new post", "body": "Hello"})
    f.get("/user/MarvelsGrantMan136/edit_biography", {"bio": "changed"})
    changed = {n: json.loads(Browser(u).get("/__state")[2])["state"] for n, u in sites.urls.items()}
    assert changed != before
    status, _, body = Browser(sites.urls["shop"]).get("/__reset", {})
    assert status == 200 and json.loads(body)["reset"] is True
    Browser(sites.urls["forum"]).get("/__reset", {})
    after = {n: json.loads(Browser(u).get("/__state")[2])["state"] for n, u in sites.urls.items()}
    assert after == before


def test_sessions_survive_a_reset(sites):
    b = forum(sites)
    sites.reset()
    assert b.get("/subscriptions")[1] == "/subscriptions"


def test_the_clock_is_fixed_so_a_new_post_is_the_same_after_every_reset(sites):
    pages = []
    for _ in range(2):
        sites.reset()
        _, url, body = forum(sites).get("/f/music/submit", {"title": "Clock check", "body": "b"})
        pages.append((url, body))
    assert pages[0] == pages[1]
    assert "on Jun 1, 2024" in pages[0][1]


def test_votes_toggle_and_move_the_score(sites):
    seed = load_seed("forum")
    voted = seed["votes"][ACCOUNTS["forum"]["key"]]
    post = next(p for p in seed["posts"] if str(p["id"]) not in voted)
    path, f = f"/f/{post['forum']}/{post['id']}", forum(sites)
    for direction, vote, score in (("up", "up", 1), ("up", "none", 0), ("down", "down", -1)):
        body = f.get(f"{path}/vote", {"direction": direction})[2]
        assert f'data-vote="{vote}"' in body
        assert f'id="post-score">{post["score"] + score}<' in body


def test_two_site_sets_do_not_share_state():
    a, b = lease(), lease()
    try:
        assert a.urls != b.urls
        shop(a).get("/wishlist/add", {"product_id": "2"})
        state_a = json.loads(Browser(a.urls["shop"]).get("/__state")[2])["state"]["wishlists"]
        state_b = json.loads(Browser(b.urls["shop"]).get("/__state")[2])["state"]["wishlists"]
        assert 2 in state_a["emma"] and 2 not in state_b["emma"]
    finally:
        release(a)
        release(b)
    again = lease()
    try:
        assert again in (a, b)  # idle sets are reused, not restarted
    finally:
        release(again)


def test_remote_sites_reset_over_http_and_log_in_by_cookie(sites):
    remote = RemoteSites(sites.urls)
    shop(sites).get("/wishlist/add", {"product_id": "2"})
    assert remote.reset() > 0
    state = json.loads(Browser(sites.urls["shop"]).get("/__state")[2])["state"]
    assert 2 not in state["wishlists"]["emma"]
    cookies = remote.storage_state(("shop",))["cookies"]
    assert cookies[0]["name"] == "shop_session" and cookies[0]["domain"] == "127.0.0.1"


def cli(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "agentevo.cli", *args, "-w", str(workspace)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_sites_up_status_reset_and_stop(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentevo.cli", "sites", "up", "--json", "-w", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    record = tmp_path / ".agentevo" / "sites.json"
    try:
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert record.exists(), proc.stderr.read() if proc.poll() is not None else "no record"
        status = json.loads(cli("sites", "status", "--json", workspace=tmp_path).stdout)
        assert [s["site"] for s in status] == ["shop", "forum"] and all(s["up"] for s in status)
        reset = json.loads(cli("sites", "reset", "--json", workspace=tmp_path).stdout)
        assert {r["site"] for r in reset} == {"shop", "forum"} and all(r["ms"] >= 0 for r in reset)
        after = json.loads(cli("sites", "status", "--json", workspace=tmp_path).stdout)
        assert all(s["resets"] == 1 for s in after)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    printed = json.loads(out)
    assert {s["username"] for s in printed["sites"]} == {a["username"] for a in ACCOUNTS.values()}
    assert not record.exists()


def test_sites_status_without_sites_is_one_line_and_nonzero(tmp_path):
    result = cli("sites", "status", workspace=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "sites up" in result.stderr
