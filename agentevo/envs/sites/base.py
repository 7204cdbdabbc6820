"""What every local site shares: seed loading, in-memory state restored by reset, sessions, page rendering.

State lives in memory as plain Python objects built from the site's `seed.json`; the pristine state is kept
pickled, so a reset is one `pickle.loads` (milliseconds) under the site's lock. Sessions are stateless signed
cookies, so a reset never logs anyone out and a Playwright storage state made once stays valid.
Special routes on every site: `POST /__reset`, `GET /__state` (JSON, for checks and debugging),
`GET /__health`. The stylesheet is inlined in every page: a page is laid out for good when its HTML has
loaded, so an element's position (where a click lands) never shifts after the page is observed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import pickle
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from agentevo.assets import environment_dir
from agentevo.envs.sites.http import App, Request, Response, get, html, json_response, post, redirect
from agentevo.errors import EnvError

CLOCK_FORMAT = "%Y-%m-%d %H:%M"
SECRET = b"agentevo-local-sites"  # fixed on purpose: the sites are test fixtures, never deployed


def assets_dir() -> Path:
    """`environments/web` (agentevo.assets), or AGENTEVO_SITES_DIR."""
    path = environment_dir("web", "AGENTEVO_SITES_DIR")
    if not (path / "shop" / "seed.json").is_file():
        raise EnvError(f"local site assets not found in {path} (set AGENTEVO_SITES_DIR to environments/web)")
    return path


@functools.cache
def load_seed(site: str) -> dict[str, Any]:
    return json.loads((assets_dir() / site / "seed.json").read_text(encoding="utf-8"))


def sign(site: str, key: str) -> str:
    digest = hmac.new(SECRET, f"{site}:{key}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"{key}.{digest}"


def verify(site: str, value: str) -> str | None:
    key, _, _ = value.rpartition(".")
    return key if key and hmac.compare_digest(sign(site, key), value) else None


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def nice_date(stamp: str) -> str:
    """'2024-03-05 14:07' → 'Mar 5, 2024' (the form the pages show and the tasks expect)."""
    d = datetime.strptime(stamp, CLOCK_FORMAT)
    return f"{d:%b} {d.day}, {d.year}"


class Clock:
    """The fixed clock: each new record is stamped a minute after the previous one, from the seed's `now`."""

    def __init__(self, start: str) -> None:
        self.start = datetime.strptime(start, CLOCK_FORMAT)
        self.ticks = 0

    def now(self) -> str:
        self.ticks += 1
        return (self.start + timedelta(minutes=self.ticks)).strftime(CLOCK_FORMAT)


class Site:
    """A resettable site: subclasses build `state` from the seed and add pages as `@get` / `@post` methods."""

    name = ""
    title = ""
    cookie = ""

    def __init__(self) -> None:
        self.assets = assets_dir()
        self.pristine = pickle.dumps(self.build_state(load_seed(self.name)))
        self.state: Any = pickle.loads(self.pristine)
        self.resets = 0
        self.app = App(self.name)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(self.assets / self.name), str(self.assets / "common")]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(money=money, date=nice_date, urlquote=lambda s: quote(str(s)))
        self.app.mount(self)
        self.app.not_found = self.missing

    # --- for subclasses -----------------------------------------------------------------------------
    def build_state(self, seed: dict[str, Any]) -> Any:
        raise NotImplementedError

    def login_key(self, username: str, password: str) -> str | None:
        """The session key of the account these credentials open, or None."""
        raise NotImplementedError

    def display_name(self, key: str) -> str:
        return key

    def page_context(self) -> dict[str, Any]:
        """What every page of the site needs besides its own context (navigation, labels)."""
        return {}

    # --- state --------------------------------------------------------------------------------------
    def reset(self) -> float:
        """Restore the seed; returns the seconds it took."""
        started = time.perf_counter()
        with self.app.lock:
            self.state = pickle.loads(self.pristine)
            self.resets += 1
        return time.perf_counter() - started

    def snapshot(self) -> dict[str, Any]:
        return {"site": self.name, "resets": self.resets, "state": to_jsonable(self.state)}

    # --- sessions and pages -------------------------------------------------------------------------
    def user(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookie)
        return verify(self.name, value) if value else None

    @classmethod
    def session_cookie(cls, key: str, host: str = "127.0.0.1") -> dict[str, Any]:
        """The session cookie of account `key`, in Playwright's storage-state form."""
        return {
            "name": cls.cookie,
            "value": sign(cls.name, key),
            "domain": host,
            "path": "/",
            "expires": -1,
            "httpOnly": True,
            "secure": False,
            "sameSite": "Lax",
        }

    def render(self, template: str, request: Request, status: int = 200, **context: Any) -> Response:
        key = self.user(request)
        page = self.templates.get_template(template).render(
            site_title=self.title,
            user=self.display_name(key) if key else None,
            user_key=key,
            request=request,
            **self.page_context(),
            **context,
        )
        return html(page, status)

    def login_required(self, request: Request) -> Response:
        return redirect(f"/login?next={quote(request.full_path)}")

    def missing(self, req: Request) -> Response:
        return self.render("not_found.html", req, status=404)

    # --- routes every site has ----------------------------------------------------------------------
    @post("/__reset")
    def reset_route(self, req: Request) -> Response:
        seconds = self.reset()
        return json_response({"site": self.name, "reset": True, "seconds": round(seconds, 6)})

    @get("/__state")
    def state_route(self, req: Request) -> Response:
        return json_response(self.snapshot())

    @get("/__health")
    def health_route(self, req: Request) -> Response:
        return json_response({"site": self.name, "ok": True, "resets": self.resets})

    @get("/login")
    def login_form(self, req: Request) -> Response:
        return self.render("login.html", req, next=req.arg("next", "/"), error="")

    @post("/login")
    def login(self, req: Request) -> Response:
        key = self.login_key(req.field("username"), req.field("password"))
        target = req.field("next") or "/"
        if key is None:
            error = "The sign-in was incorrect or your account is disabled. Please try again."
            return self.render("login.html", req, status=401, next=target, error=error)
        return redirect(safe_target(target)).set_cookie(self.cookie, sign(self.name, key))

    @post("/logout")
    def logout(self, req: Request) -> Response:
        return redirect("/").set_cookie(self.cookie, "", max_age=0)


def logged_in(fn: Callable[..., Response]) -> Callable[[Any, Request], Response]:
    """A page that needs an account: guests go to the login (and back); the handler gets the session key."""

    @functools.wraps(fn)
    def page(self: Site, req: Request) -> Response:
        key = self.user(req)
        return self.login_required(req) if key is None else fn(self, req, key)

    return page


def paginate(items: list[Any], page_arg: str, size: int) -> tuple[list[Any], int, int]:
    """The items of one page, the page number (clamped) and the page count."""
    pages = max(1, math.ceil(len(items) / size))
    page = min(max(1, int(page_arg)), pages) if page_arg.isdigit() else 1
    return items[(page - 1) * size : page * size], page, pages


def safe_target(target: str) -> str:
    """Only same-site paths after login (never an open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Clock):
        return {"start": value.start.strftime(CLOCK_FORMAT), "ticks": value.ticks}
    return value
