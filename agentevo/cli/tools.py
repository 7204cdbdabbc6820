"""`agentevo tools list|show|test|verify|retire|diff|add|rejections`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from agentevo.cli.options import Json, ToolsDb, Workspace
from agentevo.console import err, out, print_json
from agentevo.errors import ConfigError
from agentevo.tools.access import open_archive, split_ref, unified

if TYPE_CHECKING:
    from agentevo.records import Tool
    from agentevo.tools.archive import FileToolArchive

tools_app = typer.Typer(
    help="The tool archive: list, inspect, test, verify, retire, add tools.", no_args_is_help=True
)

ToolSandbox = Annotated[
    str | None, typer.Option("--sandbox", help="Where tests run: auto, docker, bwrap (local only by name).")
]


def row_json(archive: FileToolArchive, tool: Tool) -> dict[str, Any]:
    row = archive.registry.get(tool.name, tool.version)
    return {
        "name": tool.name,
        "version": tool.version,
        "kind": tool.kind,
        "status": tool.status,
        "reason": row.reason if row else "",
        "description": tool.description,
        "calls": tool.stats.calls,
        "ok": tool.stats.ok,
        "failed": tool.stats.failed,
        "p50_ms": tool.stats.p50_ms,
        "origin": row.origin if row else "",
        "scope": row.scope if row else {},
        "aliases": row.aliases if row else [],
        "created_at": tool.created_at.isoformat(),
        "verified_at": tool.verified_at.isoformat() if tool.verified_at else None,
    }


@tools_app.command("list")
def list_tools(
    all_versions: Annotated[bool, typer.Option("--all", help="Retired versions too.")] = False,
    workspace: Workspace = None,
    db: ToolsDb = None,
    json_mode: Json = False,
) -> None:
    """List the tools with their usage: calls, ok, failed, median latency."""
    from agentevo.tools.archive import ToolTampered

    archive = open_archive(workspace, db)
    data = []
    for row in archive.registry.rows(status=None if all_versions else "active"):
        try:
            data.append({**row_json(archive, archive.get(row.name, row.version)), "integrity": "ok"})
        except ToolTampered as exc:
            data.append({"name": row.name, "version": row.version, "kind": row.kind, "status": row.status,
                         "integrity": exc.reason})  # fmt: skip
    if json_mode:
        return print_json(data)
    table = Table(
        Column("tool", no_wrap=True),
        *(Column(h, min_width=len(h)) for h in ("kind", "status", "calls", "ok", "failed", "p50 ms")),
        Column("description", min_width=11),
    )
    for d in data:
        status = d["status"] if d["integrity"] == "ok" else "[red]tampered[/]"
        table.add_row(
            f"{d['name']}@v{d['version']}",
            d["kind"],
            status,
            *(str(d.get(k, "")) for k in ("calls", "ok", "failed", "p50_ms")),
            d.get("description", "")[:70],
        )
    out.print(table)


@tools_app.command("show")
def show(ref: str, workspace: Workspace = None, db: ToolsDb = None, json_mode: Json = False) -> None:
    """Show one tool (NAME or NAME@V): its code, tests, provenance, replays and history."""
    from rich.syntax import Syntax

    archive = open_archive(workspace, db)
    name, version = split_ref(ref)
    tool = archive.get(name, version)
    events = [
        {"version": e.version, "event": e.event, "detail": e.detail, "at": e.at.isoformat()}
        for e in archive.registry.events(tool.name)
    ]
    data = {
        **row_json(archive, tool),
        "parameters": tool.parameters,
        "provenance": tool.provenance.model_dump(mode="json"),
        "replays": [r.model_dump(mode="json") for r in archive.replays(tool.name, tool.version)],
        "versions": [r.version for r in archive.registry.versions(tool.name)],
        "source": tool.source,
        "tests": tool.tests,
        "events": events,
    }
    if json_mode:
        return print_json(data)
    out.print(f"[bold]{tool.name}@v{tool.version}[/]  {tool.kind}  {tool.status}  {tool.description}")
    out.print(f"parameters: {json.dumps(tool.parameters.get('properties', {}))}")
    st = tool.stats
    out.print(f"calls {st.calls}  ok {st.ok}  failed {st.failed}  p50 {st.p50_ms} ms")
    out.print(Syntax(tool.source, "python", line_numbers=False))
    out.print(Syntax(tool.tests, "python", line_numbers=False))
    for e in events[:10]:
        out.print(f"  {e['at'][:19]}  v{e['version']}  {e['event']}  {e['detail']}")


def verdict_table(verdicts: list[Any]) -> Table:
    table = Table("tool", "result", "action", "detail")
    for v in verdicts:
        table.add_row(
            f"{v.name}@v{v.version}", "[green]ok[/]" if v.ok else "[red]failed[/]", v.action, v.detail
        )
    return table


@tools_app.command("test")
def run_tests_command(
    ref: str,
    workspace: Workspace = None,
    db: ToolsDb = None,
    sandbox: ToolSandbox = None,
    json_mode: Json = False,
) -> None:
    """Run one tool's tests and replays now (nothing is retired); exit 1 if they fail."""
    from agentevo.tools.lifecycle import verify_one

    archive = open_archive(workspace, db, sandbox)
    name, version = split_ref(ref)
    row = archive.row_for(name, version)
    try:
        verdict = verify_one(archive, row.name, row.version)
    finally:
        archive.release_envs()
    if json_mode:
        print_json(verdict.to_json())
    else:
        out.print(verdict_table([verdict]))
    if not verdict.ok:
        raise typer.Exit(1)


@tools_app.command("verify")
def verify(
    workspace: Workspace = None, db: ToolsDb = None, sandbox: ToolSandbox = None, json_mode: Json = False
) -> None:
    """Re-run every active tool's tests and replays; retire those that fail; merge duplicates."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agentevo.tools import lifecycle

    archive = open_archive(workspace, db, sandbox)
    total = len(archive.registry.rows(status="active"))
    bar = Progress(TextColumn("verify"), BarColumn(), MofNCompleteColumn(), console=err, disable=json_mode)
    with bar:
        task = bar.add_task("verify", total=total)
        try:
            report = lifecycle.verify(archive, progress=lambda _t: bar.advance(task))
        finally:
            archive.release_envs()
    if json_mode:
        return print_json([v.to_json() for v in report.verdicts])
    out.print(verdict_table(report.verdicts))
    err.print(f"{total} verified, {len(report.retired)} retired")


@tools_app.command("retire")
def retire(
    ref: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "retired by hand",
    workspace: Workspace = None,
    db: ToolsDb = None,
    json_mode: Json = False,
) -> None:
    """Retire a tool (its active version, or NAME@V): it is no longer offered."""
    archive = open_archive(workspace, db)
    name, version = split_ref(ref)
    row = archive.row_for(name, version)
    archive.retire(row.name, reason, version=row.version)
    if json_mode:
        return print_json({"name": row.name, "version": row.version, "status": "retired", "reason": reason})
    out.print(f"retired {row.name}@v{row.version}")


@tools_app.command("diff")
def diff(
    name: str, v1: int, v2: int, workspace: Workspace = None, db: ToolsDb = None, json_mode: Json = False
) -> None:
    """Show what changed between two versions of a tool."""
    from rich.syntax import Syntax

    archive = open_archive(workspace, db)
    a, b = archive.get(name, v1), archive.get(name, v2)
    files = {
        "tool.py": unified(a.source, b.source, f"{name}@v{v1}/tool.py", f"{name}@v{v2}/tool.py"),
        "test_tool.py": unified(a.tests, b.tests, f"{name}@v{v1}/test_tool.py", f"{name}@v{v2}/test_tool.py"),
    }
    fields = {
        k: {"from": getattr(a, k), "to": getattr(b, k)}
        for k in ("description", "parameters", "status")
        if getattr(a, k) != getattr(b, k)
    }
    if json_mode:
        return print_json({"name": name, "from": v1, "to": v2, "files": files, "fields": fields})
    for k, change in fields.items():
        out.print(f"[bold]{k}[/]: {change['from']!r} → {change['to']!r}")
    for text in files.values():
        if text:
            out.print(Syntax(text, "diff"))


@tools_app.command("add")
def add(
    folder: Annotated[
        Path, typer.Argument(help="A folder with tool.py, test_tool.py and optionally tool.json.")
    ],
    kind: Annotated[
        str | None, typer.Option(help="web, os or code (default: tool.json's, else code).")
    ] = None,
    workspace: Workspace = None,
    db: ToolsDb = None,
    sandbox: ToolSandbox = None,
    json_mode: Json = False,
) -> None:
    """Register a hand-written tool folder through the same gate as synthesised tools."""
    from agentevo.kinds import known_kinds
    from agentevo.tools.folder import candidate_from_folder

    if kind is not None and kind not in known_kinds():
        raise ConfigError(f"--kind must be one of {', '.join(known_kinds())}")
    archive = open_archive(workspace, db, sandbox)
    candidate = candidate_from_folder(folder, kind=kind)  # type: ignore[arg-type]
    try:
        report = archive.submit(candidate)
    finally:
        archive.release_envs()
    tool = report.tool
    data = {
        **row_json(archive, tool),
        "tests": report.tests.summary(),
        "replays": [r.detail for r in report.replays],
    }
    if json_mode:
        return print_json(data)
    merged = f" (merged: {candidate.name} behaves like {tool.name})" if tool.name != candidate.name else ""
    out.print(f"registered {tool.name}@v{tool.version}: {report.tests.summary()}{merged}")


@tools_app.command("rejections")
def rejections(
    limit: Annotated[int, typer.Option(help="Most recent N.")] = 50,
    workspace: Workspace = None,
    db: ToolsDb = None,
    json_mode: Json = False,
) -> None:
    """Tools the gate refused, newest first, with the rule that refused them."""
    archive = open_archive(workspace, db)
    data = [
        {
            "name": r.name,
            "kind": r.kind,
            "code": r.code,
            "reason": r.reason,
            "origin": r.origin,
            "at": r.at.isoformat(),
        }
        for r in archive.registry.rejections(limit)
    ]
    if json_mode:
        return print_json(data)
    table = Table("when", "tool", "origin", "rule", "reason")
    for d in data:
        table.add_row(d["at"][:19], d["name"], d["origin"], d["code"], d["reason"][:90])
    out.print(table)
