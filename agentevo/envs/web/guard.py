"""What the agent's browser may reach: http(s) pages, never the local sites' harness endpoints.

The agent navigates with `goto`, links, forms and page scripts. It may not open `file://` (the host's
files), `chrome://`, `devtools://`, `view-source:`, `data:`, `javascript:` or any other non-http(s) URL
(only `about:blank` besides), nor the sites' `/__state`, `/__reset` and `/__health` routes (every path
that starts with `/__`): reading the state would show the answer, resetting would wipe the evidence. The
harness resets and reads sites through its own HTTP client (`sites/pool.py`), never through this browser.

Three layers: `goto` refuses such URLs before the browser sees them; a context route aborts requests to
harness paths (forms, links, scripts, subresources); and after every action a page that ended up on a
blocked URL anyway (a redirect, which routes do not see) is sent to about:blank before it is observed.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any
from urllib.parse import unquote, urlsplit

ALLOWED_SCHEMES = ("http", "https")
BLANK = "about:blank"
ERROR_PAGE = "chrome-error://"  # where a failed load lands: Chromium's own error text, harmless
HARNESS_PREFIX = "/__"
# a request whose path starts with `/__`, however it is spelled (%-escapes, `//`, `/./`): aborted
HARNESS_ROUTE = re.compile(r"^https?://[^/?#]*(?:/|%2[fF])+(?:(?:\.|%2[eE])(?:/|%2[fF])+)*(?:_|%5[fF]){2}")


def blocked(url: str) -> str | None:
    """Why the agent may not open this URL, or None when it may."""
    text = url.strip()
    if text == BLANK:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return f"{text[:80]} is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}:" if scheme else "a URL without http:// or https://"
        return f"{shown} URLs cannot be opened here; only http(s) pages"
    path = posixpath.normpath("/" + unquote(parts.path).lstrip("/"))
    if path.startswith(HARNESS_PREFIX):
        return f"{parts.path} is the harness's endpoint, not part of the site"
    return None


def install(context: Any) -> None:
    """Abort every request of this browser context to a harness path."""
    context.route(HARNESS_ROUTE, lambda route: route.abort("blockedbyclient"))


def leave_blocked_pages(pages: list[Any]) -> str | None:
    """Send every page that shows a blocked URL to about:blank; why, for the first one (else None)."""
    reason = None
    for page in pages:
        if page.url.startswith(ERROR_PAGE):
            continue
        why = blocked(page.url)
        if why is not None:
            reason = reason or why
            try:
                page.goto(BLANK)
            except Exception:
                page.close()
    return reason
