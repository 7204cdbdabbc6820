"""Pages from templates: the Jinja2 environment (autoescaped), the link and number helpers it offers, and
the render and redirect functions every view uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from agentevo.ui.security import TOKEN_FIELD

HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,  # every value from a store or a page is escaped: hostile page text stays text
    undefined=jinja2.ChainableUndefined,  # files another version wrote may lack fields: show nothing
    trim_blocks=True,
    lstrip_blocks=True,
)


def href(path: str, **params: Any) -> str:
    """A link with the non-empty parameters as its query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(kept)}" if kept else path


def page_href(request: Request, number: int) -> str:
    params = dict(request.query_params)
    params["page"] = str(number)
    return href(request.url.path, **params)


def pct(value: Any, digits: int = 1) -> str:
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return "–"


def ci(pair: Any) -> str:
    try:
        lo, hi = pair
        return f"{100 * float(lo):.1f}–{100 * float(hi):.1f}%"
    except (TypeError, ValueError):
        return "–"


TEMPLATES.globals.update(href=href, page_href=page_href, pct=pct, ci=ci, TOKEN_FIELD=TOKEN_FIELD)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    wb = request.app.state.workbench
    page = TEMPLATES.get_template(template).render(request=request, wb=wb, token=wb.token, **context)
    return HTMLResponse(page, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
