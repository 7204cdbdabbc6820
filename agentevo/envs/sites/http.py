"""A very small web framework over the standard library: routes, requests, responses, one server thread.

The local sites need nothing more than form posts, cookies, redirects and jinja2 pages, and a dependency-free
server starts in a millisecond and serves the same bytes on every machine.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # form posts are tiny; anything bigger is refused


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    cookies: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)  # captured from the route pattern
    user: str | None = None  # set by the site from its session cookie

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0].strip() if values else default

    def int_field(self, name: str) -> int:
        """A form field as an int; 0 when it is missing or not a number."""
        try:
            return int(self.field(name))
        except ValueError:
            return 0

    @property
    def full_path(self) -> str:
        if not self.query:
            return self.path
        pairs = "&".join(f"{quote(k)}={quote(v)}" for k, vs in self.query.items() for v in vs)
        return f"{self.path}?{pairs}"


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def set_cookie(self, name: str, value: str, *, max_age: int | None = None) -> Response:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        self.headers.append(("Set-Cookie", "; ".join(parts)))
        return self


def html(text: str, status: int = 200) -> Response:
    return Response(text.encode(), status)


def redirect(location: str, status: int = 303) -> Response:
    return Response(b"", status, headers=[("Location", location)])


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, indent=1, sort_keys=True, default=str).encode()
    return Response(body, status, "application/json")


Handler = Callable[[Request], Response]
ROUTES = "__site_routes__"
CAPTURE = re.compile(r"<(\w+)(:int)?>")


def capture(match: re.Match[str]) -> str:
    """`<name>` captures one path segment, `<name:int>` only digits."""
    body = r"\d+" if match.group(2) else "[^/]+"
    return f"(?P<{match.group(1)}>{body})"


def route(method: str, pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Mark a site method as the handler of `method pattern`; `App.mount` registers marked methods."""

    def mark(fn: Callable[..., Response]) -> Callable[..., Response]:
        setattr(fn, ROUTES, [*getattr(fn, ROUTES, []), (method, pattern)])
        return fn

    return mark


def get(pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    return route("GET", pattern)


def post(pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    return route("POST", pattern)


class App:
    """Routes (method + path pattern with `<name>` captures) to handlers; one lock serialises all requests,
    so handlers read and change the site's state without further care."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.lock = threading.RLock()
        self.not_found: Handler = lambda req: html("<h1>Page not found</h1>", 404)

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + CAPTURE.sub(capture, pattern) + "/?$")

        def register(fn: Handler) -> Handler:
            self.routes.append((method, regex, fn))
            return fn

        return register

    def mount(self, owner: Any) -> None:
        """Register the methods of `owner` marked with `@get` / `@post`, base classes first, each class's in
        the order they are written (earlier patterns win, so `/orders/latest` before `/orders/<number>`)."""
        for cls in reversed(type(owner).__mro__):
            for name, fn in vars(cls).items():
                for method, pattern in getattr(fn, ROUTES, []):
                    self.route(method, pattern)(getattr(owner, name))

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for method, regex, fn in self.routes:
            match = regex.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = match.groupdict()
            with self.lock:
                return fn(request)
        if allowed:
            return html("<h1>Method not allowed</h1>", 405)
        return self.not_found(request)


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class SiteHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"agentevo-{app.name}"

        def do_GET(self) -> None:
            self.handle_method("GET")

        def do_POST(self) -> None:
            self.handle_method("POST")

        def handle_method(self, method: str) -> None:
            try:
                response = app.dispatch(self.read_request(method))
            except Exception:  # a bug in a page must show as a 500, never kill the server thread
                log.exception("%s %s %s failed", app.name, method, self.path)
                response = html("<h1>Internal server error</h1>", 500)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        def read_request(self, method: str) -> Request:
            parts = urlsplit(self.path)
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            cookies = SimpleCookie()
            cookies.load(self.headers.get("Cookie") or "")
            return Request(
                method=method,
                path=parts.path.rstrip("/") or "/",
                query=parse_qs(parts.query, keep_blank_values=True),
                form=parse_qs(body, keep_blank_values=True),
                cookies={k: m.value for k, m in cookies.items()},
            )

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s: %s", app.name, format % args)

    return SiteHandler


class QuietServer(ThreadingHTTPServer):
    """A browser that leaves a page mid-response closes the socket; that is normal, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended early", client_address, exc_info=True)


class Server:
    """One app served on 127.0.0.1 from a daemon thread; port 0 takes a free port."""

    def __init__(self, app: App, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        self.httpd = QuietServer((host, port), make_handler(app))
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"site-{app.name}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
