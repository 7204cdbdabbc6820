"""The Starlette app: routes of every area, templates, static files, the security layers and error pages."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from agentevo.errors import AgentevoError
from agentevo.ui import evolve_views, memory_views, runs_views, tools_views
from agentevo.ui.render import HERE, redirect, render
from agentevo.ui.security import ReadOnly, SecurityHeaders, allowed_hosts
from agentevo.ui.workbench import Workbench


async def home(request: Request) -> Response:
    return redirect("/runs")


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return render(request, "error.html", status_code=exc.status_code, message=exc.detail)


async def on_agentevo_error(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", status_code=400, message=str(exc))


def routes(read_only: bool) -> list[BaseRoute]:
    found: list[BaseRoute] = [Route("/", home)]
    for area in (runs_views, memory_views, tools_views, evolve_views):
        found += area.routes(read_only)
    found.append(Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"))
    return found


def create_app(workbench: Workbench, host: str = "127.0.0.1") -> Starlette:
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host)),
    ]
    if workbench.read_only:
        middleware.append(Middleware(ReadOnly))
    app = Starlette(
        routes=routes(workbench.read_only),
        middleware=middleware,
        exception_handlers={HTTPException: on_http_error, AgentevoError: on_agentevo_error},
    )
    app.state.workbench = workbench
    return app


__all__ = ["create_app"]
