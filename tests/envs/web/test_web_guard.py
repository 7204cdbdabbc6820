"""The agent's browser reaches only http(s) pages, never the host's files, the browser's own pages or the
local sites' harness endpoints; the harness still resets and reads the sites through its own client."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from agentevo.envs.sites.pool import SiteSet
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions, parse_action
from agentevo.envs.web.guard import blocked
from agentevo.records import Task
from tests.envs.web.pages import handler_for, page

SECRET = "SECRET-STATE-7f3a"
PAGES = {
    "/": page(
        "Home",
        "<h1>Welcome</h1><a href='/__state'>State link</a>"
        "<form method=post action='/__reset'><button type=submit>Reset form</button></form>"
        "<button onclick=\"location.href='/__state'\">Scripted</button>"
        "<a href='/bounce'>Bounce</a><a href='file:///etc/passwd'>Passwd link</a>",
    ),
    "/__state": page("State", f"<p>{SECRET}</p>"),
    "/__reset": page("Reset", f"<p>{SECRET}</p>"),
}


class Handler(handler_for(PAGES)):  # type: ignore[misc]
    """The test pages, plus a redirect to the state and a POST that records a reset."""

    resets = 0

    def do_GET(self) -> None:
        if self.path == "/bounce":
            self.send_response(302)
            self.send_header("Location", "/__state")
            self.end_headers()
            return
        super().do_GET()

    def do_POST(self) -> None:
        Handler.resets += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGES["/__reset"].encode())


@contextlib.contextmanager
def serve() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def base():
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def env():
    e = PlaywrightWebEnvironment(options=WebOptions(max_obs_tokens=0))
    yield e
    e.close()


def start(env, url: str):
    return env.reset(Task(id="t", suite="test", kind="web", instruction="Do it", meta={"start_url": url}))


def act(env, text: str):
    return env.step(parse_action(f"```{text}```"))


def node_id(text: str, name: str) -> str:
    line = next(line for line in text.splitlines() if f"'{name}'" in line)
    return line.strip().split("]")[0].lstrip("[")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "chrome://version",
        "chrome://settings",
        "devtools://devtools/bundled/inspector.html",
        "view-source:file:///etc/passwd",
        "data:text/html,<p>root:x:0:0</p>",
        "javascript:document.write('root:x:0:0')",
        "/etc/passwd",
    ],
)
def test_goto_a_non_http_url_is_refused_and_nothing_of_it_is_shown(env, base, url):
    start(env, base)
    obs = act(env, f"goto [{url}]")
    assert obs.error is not None and "refused" in obs.error
    assert "root:x:0" not in obs.text and "Chromium" not in obs.text
    assert obs.url == f"{base}/"


@pytest.mark.parametrize(
    "path", ["/__state", "/__reset", "/%5F%5Fstate", "//__state", "/./__state", "/__health"]
)
def test_goto_a_harness_endpoint_is_refused(env, base, path):
    start(env, base)
    obs = act(env, f"goto [{base}{path}]")
    assert obs.error is not None and "harness" in obs.error and SECRET not in obs.text


@pytest.mark.parametrize("name", ["State link", "Scripted", "Bounce"])
def test_links_scripts_and_redirects_to_the_state_show_nothing_of_it(env, base, name):
    obs = start(env, base)
    obs = act(env, f"click [{node_id(obs.text, name)}]")
    assert SECRET not in obs.text
    assert "__state" not in obs.url and "%5F%5Fstate" not in obs.url


def test_a_form_cannot_post_to_the_reset_endpoint(env, base):
    before = Handler.resets
    obs = start(env, base)
    obs = act(env, f"click [{node_id(obs.text, 'Reset form')}]")
    assert Handler.resets == before and SECRET not in obs.text


def test_a_link_to_a_local_file_does_not_open_it(env, base):
    obs = start(env, base)
    obs = act(env, f"click [{node_id(obs.text, 'Passwd link')}]")
    assert "root:x:0" not in obs.text and not obs.url.startswith("file:")


def test_ordinary_pages_and_about_blank_still_open(env, base):
    start(env, "about:blank")
    assert act(env, f"goto [{base}/]").url == f"{base}/"
    obs = act(env, "goto [about:blank]")
    assert obs.error is None and obs.url == "about:blank"


def test_the_harness_still_resets_and_reads_a_real_site_the_agent_cannot():
    sites = SiteSet.start()
    env = PlaywrightWebEnvironment(options=WebOptions(max_obs_tokens=0))
    try:
        url = sites.urls["shop"]
        obs = start(env, url)
        assert obs.error is None and obs.url.startswith(url)
        refused = act(env, f"goto [{url}/__state]")
        assert refused.error is not None and '"site"' not in refused.text
        with urllib.request.urlopen(f"{url}/__state", timeout=5) as response:
            assert json.loads(response.read())  # the harness's own client reads the state
        assert sites.reset() >= 0.0
    finally:
        env.close()
        sites.stop()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://x/a/__b", True),
        ("https://x/path?next=/__state", True),
        ("http://x/__state", False),
        ("http://x/%5f%5fstate", False),
        ("http://x/a/../__reset", False),
        ("ftp://x/", False),
        ("about:blank", True),
        ("about:config", False),
    ],
)
def test_which_urls_the_agent_may_open(url, allowed):
    assert (blocked(url) is None) == allowed
