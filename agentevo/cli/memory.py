"""`agentevo memory …`: inspect, search, undo and repair the experience memory of a workspace.

Reading commands (list, show, log, diff, stats, export) take no lock and work while a run is writing;
search writes (repairs the index) only when no run holds the writer lock; the changing commands (rollback,
forget, approve, reindex, import) wait for the lock, then fail with one clear line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from agentevo.cli.options import Json, MemoryDb, Workspace
from agentevo.console import err, out, print_json
from agentevo.errors import MemoryStoreError
from agentevo.paths import workspace_dir

if TYPE_CHECKING:  # the store pulls in SQL and numpy: loaded by the commands that need it
    from agentevo.memory.store import CommitInfo, ExperienceStore
    from agentevo.records import Experience

memory_app = typer.Typer(
    help="Inspect, search, roll back and repair the experience memory.", no_args_is_help=True
)

EmbedderOpt = Annotated[
    str | None,
    typer.Option("--embedder", help="minilm or hash:N (default: the one the store was built with)."),
]
ItemId = Annotated[str, typer.Argument(metavar="ID", help="Item id (or a unique prefix).")]
Commit = Annotated[str, typer.Argument(help="Commit (id, prefix, HEAD, HEAD~N).")]


def open_store(workspace: Path | None, db: str | None, embedder: str | None, mode: str) -> ExperienceStore:
    from agentevo.memory.store import STORE_DIR, ExperienceStore

    ws = workspace_dir(workspace)
    if db is None and mode == "read" and not (ws / STORE_DIR / "memory.db").exists():
        raise MemoryStoreError(f"no memory store in {ws} (it is made by `agentevo run --memory on`)")
    return ExperienceStore.for_workspace(ws, url=db, embedder=embedder, mode=mode)


def row_of(e: Experience) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "trust": e.trust,
        "title": e.title,
        "scope": e.scope.model_dump(),
        "provenance": e.provenance.model_dump(mode="json"),
        "stats": e.stats.model_dump(),
        "version": e.version,
        "commit_id": e.commit_id,
        "updated_at": e.updated_at.isoformat(),
    }


def items_table(items: list[Experience], scores: list[float] | None = None) -> Table:
    table = Table("id", "kind", "trust", "scope", "title", "shown/helped/hurt", "v")
    if scores is not None:
        table.add_column("score")
    for i, e in enumerate(items):
        scope = "/".join(p for p in (e.scope.suite, e.scope.site, e.scope.template) if p) or "(any)"
        trust = {"quarantined": "[red]quarantined[/]", "untrusted": "[yellow]untrusted[/]"}.get(
            e.trust, e.trust
        )
        row = [
            e.id,
            e.kind,
            trust,
            scope,
            e.title[:70],
            f"{e.stats.retrieved}/{e.stats.helped}/{e.stats.hurt}",
        ]
        row.append(str(e.version))
        if scores is not None:
            row.append(f"{scores[i]:.3f}")
        table.add_row(*row)
    return table


def commit_line(c: CommitInfo) -> str:
    return f"commit {c.id} (#{c.seq}): {c.message} — {len(c.ops)} operation(s)"


@memory_app.command("list")
def list_items(
    kind: Annotated[str | None, typer.Option(help="insight, workflow, pitfall or tool_note.")] = None,
    trust: Annotated[str | None, typer.Option(help="trusted, untrusted or quarantined.")] = None,
    suite: Annotated[str | None, typer.Option(help="Only items of this suite.")] = None,
    limit: Annotated[int | None, typer.Option(help="Most recent N items.")] = None,
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """List the live items, oldest first."""
    with open_store(workspace, db, None, "read") as store:
        items = store.items(kind=kind, trust_level=trust, suite=suite)
    if limit:
        items = items[-limit:]
    if json_mode:
        return print_json([row_of(e) for e in items])
    out.print(items_table(items))


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 5,
    suite: Annotated[str | None, typer.Option(help="Scope: this suite (or items with no suite).")] = None,
    site: Annotated[str | None, typer.Option(help="Scope: this site.")] = None,
    template: Annotated[str | None, typer.Option(help="Scope: this template.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    quarantined: Annotated[bool, typer.Option("--quarantined", help="Include quarantined items.")] = False,
    workspace: Workspace = None,
    db: MemoryDb = None,
    embedder: EmbedderOpt = None,
    json_mode: Json = False,
) -> None:
    """The items nearest a query, as retrieval sees them (quarantined ones excluded unless asked for)."""
    scope = {key: v for key, v in (("suite", suite), ("site", site), ("template", template)) if v}
    with open_store(workspace, db, embedder, "auto") as store:
        hits = store.search(
            query, scope=scope, k=k, filter={"kind": kind} if kind else None, include_quarantined=quarantined
        )
    if json_mode:
        return print_json([{**row_of(e), "score": round(s, 4)} for e, s in hits])
    out.print(items_table([e for e, _ in hits], [s for _, s in hits]))


@memory_app.command("show")
def show(
    item_id: ItemId,
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """One item in full: text, demonstration, scope, provenance, trust, stats."""
    from agentevo.memory.trust import why_quarantined

    with open_store(workspace, db, None, "read") as store:
        e = store.resolve_item(item_id)
    data = e.model_dump(mode="json")
    if e.trust == "quarantined":
        data["quarantine_patterns"] = why_quarantined(e)
    if json_mode:
        return print_json(data)
    out.print(f"[bold]{e.title}[/]  ({e.kind}, {e.trust}, v{e.version}, commit {e.commit_id})")
    if e.description:
        out.print(e.description, highlight=False, markup=False)
    out.print(e.content, highlight=False, markup=False)
    for m in e.demonstration:
        out.print(f"[dim]--- {m.get('role')} ---[/]")
        out.print(str(m.get("content", "")), highlight=False, markup=False)
    out.print(f"scope {e.scope.model_dump()}  stats {e.stats.model_dump()}")
    out.print(f"provenance {e.provenance.model_dump()}", highlight=False)
    if "quarantine_patterns" in data:
        out.print(f"[red]quarantined[/] for: {', '.join(data['quarantine_patterns']) or 'an earlier screen'}")


@memory_app.command("log")
def log_cmd(
    limit: Annotated[int, typer.Option(help="Most recent N commits.")] = 50,
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """The commits, newest first: id, parent, time, source, run, and the operations."""
    with open_store(workspace, db, None, "read") as store:
        commits = store.log(limit)
    if json_mode:
        return print_json([c.to_json() for c in commits])
    table = Table("commit", "#", "time", "source", "run", "ops", "message")
    for c in commits:
        ops: dict[str, int] = {}
        for op in c.ops:
            ops[op["op"]] = ops.get(op["op"], 0) + 1
        summary = " ".join(f"{k}:{v}" for k, v in ops.items())
        table.add_row(
            c.id, str(c.seq), c.created_at.isoformat()[:19], c.source, c.source_run, summary, c.message
        )
    out.print(table)


@memory_app.command("diff")
def diff(
    a: Commit,
    b: Commit,
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """What changed between two commits: items added, removed, and changed (with the fields)."""
    with open_store(workspace, db, None, "read") as store:
        d = store.diff(a, b)
    if json_mode:
        return print_json(d.to_json())
    table = Table("", "id", "kind", "title", "fields")
    for e in d.added:
        table.add_row("[green]+[/]", e.id, e.kind, e.title[:70], "")
    for e in d.removed:
        table.add_row("[red]-[/]", e.id, e.kind, e.title[:70], "")
    for _, e, fields in d.changed:
        table.add_row("[yellow]~[/]", e.id, e.kind, e.title[:70], ", ".join(fields))
    out.print(f"{d.a} → {d.b}: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed")
    out.print(table)


def changed(info: CommitInfo | None, json_mode: bool, nothing: str) -> None:
    if json_mode:
        return print_json(info.to_json() if info else None)
    print(commit_line(info) if info else nothing)


@memory_app.command("rollback")
def rollback(
    commit: Annotated[
        str, typer.Argument(metavar="COMMIT", help="Commit (id, prefix, HEAD~N) to go back to.")
    ],
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """Restore the items exactly as they were just after COMMIT (as a new commit; nothing is lost)."""
    with open_store(workspace, db, None, "write") as store:
        info = store.rollback(commit)
    changed(info, json_mode, f"already at the state of {commit}: nothing to change")


@memory_app.command("forget")
def forget(
    item_id: ItemId,
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """Delete an item (a commit; `rollback` brings it back)."""
    from agentevo.memory.store import Change

    with open_store(workspace, db, None, "write") as store:
        e = store.resolve_item(item_id)
        info = store.apply(
            [Change("delete", e.id, None, note="forgotten")], message=f"forget {e.id}", source="cli"
        )
    changed(info, json_mode, "")


@memory_app.command("approve")
def approve(
    item_id: ItemId,
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """Release a quarantined (or untrusted) item after review: it becomes trusted and retrievable."""
    from agentevo.memory.store import Change

    with open_store(workspace, db, None, "write") as store:
        e = store.resolve_item(item_id)
        if e.trust == "trusted":
            return changed(None, json_mode, f"{e.id} is already trusted")
        after = e.model_copy(update={"trust": "trusted"})
        info = store.apply(
            [Change("approve", e.id, after, note=f"was {e.trust}")], message=f"approve {e.id}", source="cli"
        )
    changed(info, json_mode, "")


@memory_app.command("stats")
def stats(workspace: Workspace = None, db: MemoryDb = None, json_mode: Json = False) -> None:
    """Counts by kind, trust and suite; usage totals; commits; the embedder."""
    with open_store(workspace, db, None, "read") as store:
        data = store.stats()
    if json_mode:
        return print_json(data)
    table = Table("", "")
    for key, value in data.items():
        shown = " ".join(f"{k}:{v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        table.add_row(key, shown)
    out.print(table)


@memory_app.command("reindex")
def reindex(
    workspace: Workspace = None, db: MemoryDb = None, embedder: EmbedderOpt = None, json_mode: Json = False
) -> None:
    """Rebuild the Chroma index from SQL (with --embedder NAME: re-embed every item with it first)."""
    with open_store(workspace, db, None, "write") as store:
        err.print("rebuilding the memory index from SQL…")
        result = store.reindex(embedder=embedder)
    if json_mode:
        return print_json(result)
    print(f"index rebuilt: {result['items']} items at commit {result['head'] or '(none)'}")


@memory_app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="JSON-lines file to write (- for stdout).")],
    workspace: Workspace = None,
    db: MemoryDb = None,
    json_mode: Json = False,
) -> None:
    """Every live item as JSON lines (written atomically)."""
    with open_store(workspace, db, None, "read") as store:
        if str(path) == "-":
            for e in store.items():
                sys.stdout.write(e.model_dump_json() + "\n")
            return None
        n = store.export(path)
    if json_mode:
        return print_json({"path": str(path), "items": n})
    print(f"{n} items written to {path}")


@memory_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A JSON-lines file made by `agentevo memory export`.")],
    workspace: Workspace = None,
    db: MemoryDb = None,
    embedder: EmbedderOpt = None,
    json_mode: Json = False,
) -> None:
    """Add (or update) the items of an export as one commit; every item is screened for injected orders."""
    with open_store(workspace, db, embedder, "write") as store:
        info = store.import_file(path)
    changed(info, json_mode, "nothing to import")
