"""What keeps the workbench safe: a strict Content-Security-Policy, a per-launch token on every change, and
no change at all when read-only.

Page text from web episodes is hostile by assumption; Jinja2 escapes it (autoescape) and the CSP forbids
inline scripts, so even markup that slipped through could not run. A page of another site cannot make the
browser post a change (CSRF): it cannot read the token, which only our own pages carry. Host names other
than loopback ones are refused, so a DNS-rebinding page cannot read the workbench either.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
SAFE_METHODS = {"GET", "HEAD"}
MAX_FORM_BYTES = 64 * 1024
TOKEN_FIELD = "token"
TOKEN_HEADER = "x-agentevo-token"


class SecurityHeaders:
    """Adds the headers above to every response that does not set its own (report.html sets a looser,
    still script-free, policy for its inline styles)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.decode().lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ReadOnly:
    """Refuses every method but GET and HEAD (405) before any route is looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            response = PlainTextResponse(
                "the workbench is read-only (--read-only)", status_code=405, headers={"allow": "GET, HEAD"}
            )
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after checking the launch token (form field or header); 403 without it."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    given = form.get(TOKEN_FIELD) or request.headers.get(TOKEN_HEADER, "")
    expected: str = request.app.state.workbench.token
    if not given or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "missing or wrong workbench token: reload the page and try again")
    return form


def allowed_hosts(host: str) -> list[str]:
    """Loopback names and the bound one; any name when bound to every interface (asked for by name)."""
    if host in ("0.0.0.0", "::"):
        return ["*"]
    return sorted({"127.0.0.1", "localhost", "::1", host})
