"""Tools: the archive's versions with status and call statistics, one version's code, tests, replays and
history, a diff between versions, the gate's rejections with the rule that refused them, and retire
(behind a confirmation), through the same archive functions as `agentevo tools …`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agentevo.tools.access import unified
from agentevo.tools.archive import FileToolArchive, ToolTampered
from agentevo.tools.registry import CallRow, RejectionRow, ToolRow
from agentevo.ui.paging import int_param, page_of
from agentevo.ui.render import href, redirect, render
from agentevo.ui.security import checked_form
from agentevo.ui.workbench import Workbench

RECENT_CALLS = 30


def at_of(request: Request) -> str:
    return request.query_params.get("at", "")


def archive_of(request: Request, at: str | None = None) -> FileToolArchive | None:
    wb: Workbench = request.app.state.workbench
    return wb.archive(at_of(request) if at is None else at)


def call_stats(
    archive: FileToolArchive, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """Calls, ok, failed and mean latency per version of one page, in one grouped query."""
    if not keys:
        return {}
    names = sorted({n for n, _ in keys})
    with archive.registry.session() as s:
        q = (
            select(CallRow.name, CallRow.version, CallRow.outcome, func.count(), func.avg(CallRow.ms))
            .where(CallRow.name.in_(names))  # type: ignore[attr-defined]
            .group_by(CallRow.name, CallRow.version, CallRow.outcome)
        )
        found: dict[tuple[str, int], dict[str, Any]] = {}
        for name, version, outcome, n, ms in s.exec(q):
            st = found.setdefault(
                (name, version), {"calls": 0, "ok": 0, "failed": 0, "bad_args": 0, "ms": 0.0}
            )
            st[outcome if outcome in st else "failed"] += n
            if outcome != "bad_args":
                st["calls"] += n
                st["ms"] += (ms or 0.0) * n
    for st in found.values():
        st["mean_ms"] = st["ms"] / st["calls"] if st["calls"] else None
    return found


def tools_list(request: Request) -> Response:
    archive = archive_of(request)
    status = request.query_params.get("status", "")
    if archive is None:
        return render(
            request,
            "tools.html",
            rows=[],
            page=page_of(request, 0),
            stats={},
            status=status,
            at=at_of(request),
        )
    with archive.registry.session() as s:
        where = [ToolRow.status == status] if status else []
        total = s.exec(select(func.count()).select_from(ToolRow).where(*where)).one()
        page = page_of(request, int(total))
        q = (
            select(ToolRow)
            .where(*where)
            .order_by(ToolRow.name, ToolRow.version)
            .offset(page.offset)
            .limit(page.size)
        )
        rows = list(s.exec(q))
    stats = call_stats(archive, [(r.name, r.version) for r in rows])
    return render(request, "tools.html", rows=rows, page=page, stats=stats, status=status, at=at_of(request))


def tool_version(request: Request) -> Response:
    archive = archive_of(request)
    if archive is None:
        raise HTTPException(404, "this space has no tool archive")
    name, version = request.path_params["name"], int(request.path_params["version"])
    row = archive.row_for(name, version)
    tool, tampered, replays = None, "", []
    try:
        tool = archive.get(row.name, row.version)
        replays = [r.model_dump(mode="json") for r in archive.replays(row.name, row.version)]
    except ToolTampered as exc:
        tampered = exc.reason
    versions = archive.registry.versions(row.name)
    with archive.registry.session() as s:
        q = (
            select(CallRow)
            .where(CallRow.name == row.name, CallRow.version == row.version)
            .order_by(CallRow.id.desc())  # type: ignore[union-attr]
            .limit(RECENT_CALLS)
        )
        calls = list(s.exec(q))
    events = [e for e in archive.registry.events(row.name) if e.version in (row.version, 0)]
    stats = call_stats(archive, [(row.name, row.version)]).get((row.name, row.version), {})
    return render(
        request, "tool.html", row=row, tool=tool, tampered=tampered, replays=replays, versions=versions,
        calls=calls, events=events, stats=stats, at=at_of(request),
    )  # fmt: skip


def tool_diff(request: Request) -> Response:
    archive = archive_of(request)
    if archive is None:
        raise HTTPException(404, "this space has no tool archive")
    name = request.path_params["name"]
    versions = [r.version for r in archive.registry.versions(name)]
    if not versions:
        raise HTTPException(404, f"no tool {name!r}")
    v1 = int_param(request, "a", versions[0])
    v2 = int_param(request, "b", versions[-1])
    a, b = archive.get(name, v1), archive.get(name, v2)
    files = {
        "tool.py": unified(a.source, b.source, f"{name}@v{v1}/tool.py", f"{name}@v{v2}/tool.py"),
        "test_tool.py": unified(a.tests, b.tests, f"{name}@v{v1}/test_tool.py", f"{name}@v{v2}/test_tool.py"),
    }
    fields = {
        k: (getattr(a, k), getattr(b, k))
        for k in ("description", "parameters", "status")
        if getattr(a, k) != getattr(b, k)
    }
    return render(
        request, "tool_diff.html", name=name, v1=v1, v2=v2, versions=versions, files=files, fields=fields,
        at=at_of(request),
    )  # fmt: skip


def rejections(request: Request) -> Response:
    archive = archive_of(request)
    if archive is None:
        return render(request, "tool_rejections.html", rows=[], page=page_of(request, 0), at=at_of(request))
    with archive.registry.session() as s:
        total = s.exec(select(func.count()).select_from(RejectionRow)).one()
        page = page_of(request, int(total))
        q = select(RejectionRow).order_by(RejectionRow.id.desc()).offset(page.offset).limit(page.size)  # type: ignore[union-attr]
        rows = list(s.exec(q))
    return render(request, "tool_rejections.html", rows=rows, page=page, at=at_of(request))


def confirm_retire(request: Request) -> Response:
    archive = archive_of(request)
    if archive is None:
        raise HTTPException(404, "this space has no tool archive")
    row = archive.row_for(request.path_params["name"], int(request.path_params["version"]))
    return render(request, "tool_confirm.html", row=row, at=at_of(request))


async def do_retire(request: Request) -> Response:
    form = await checked_form(request)
    at = form.get("at", "")
    archive = archive_of(request, at)
    if archive is None:
        raise HTTPException(404, "this space has no tool archive")
    name, version = request.path_params["name"], int(request.path_params["version"])
    reason = form.get("reason", "").strip() or "retired in the workbench"
    await run_in_threadpool(archive.retire, name, reason, version)
    return redirect(href(f"/tools/{name}/v/{version}", at=at, note=f"retired {name}@v{version}"))


def routes(read_only: bool) -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route("/tools", tools_list),
        Route("/tools/rejections", rejections),
        Route("/tools/{name}/v/{version:int}", tool_version),
        Route("/tools/{name}/diff", tool_diff),
    ]
    if not read_only:
        found += [
            Route("/tools/{name}/v/{version:int}/retire", confirm_retire, methods=["GET"]),
            Route("/tools/{name}/v/{version:int}/retire", do_retire, methods=["POST"]),
        ]
    return found
