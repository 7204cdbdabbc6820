"""`agentevo runs list|show`: the stored runs of a workspace."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from agentevo.cli.options import Json, RunsDb, Workspace
from agentevo.console import out, percent, print_json
from agentevo.errors import ConfigError
from agentevo.paths import workspace_dir

runs_app = typer.Typer(help="List and inspect stored runs.", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    workspace: Workspace = None,
    db: RunsDb = None,
    json_mode: Json = False,
    limit: Annotated[int, typer.Option(help="Most recent N runs.")] = 50,
) -> None:
    """List runs, newest first."""
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace_dir(workspace), db)
    rows = store.list_runs(limit)
    data = [
        {
            "run_id": r.id,
            "created_at": r.created_at.isoformat(),
            "status": r.status,
            "kind": r.kind,
            "suite": r.suite,
            "split": r.split,
            "model": r.model,
            "episodes": r.summary.get("episodes"),
            "success_rate": r.summary.get("success_rate"),
        }
        for r in rows
    ]
    if json_mode:
        return print_json(data)
    table = Table("run", "created", "status", "suite", "model", "episodes", "success")
    for d in data:
        rate = d["success_rate"]
        table.add_row(
            d["run_id"],
            d["created_at"][:19],
            d["status"],
            f"{d['suite']}/{d['split']}",
            d["model"],
            str(d["episodes"] or 0),
            percent(rate) if rate is not None else "-",
        )
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str, workspace: Workspace = None, db: RunsDb = None, json_mode: Json = False) -> None:
    """Show one run: manifest, summary and every step of every episode."""
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace_dir(workspace), db)
    row = store.get_run(run_id)
    if row is None:
        raise ConfigError(f"no run {run_id!r}")
    episodes = []
    for e in store.episodes(run_id):
        steps = [s.model_dump(mode="json") for s in store.steps(e.id)]
        episodes.append(
            {
                "episode_id": e.id,
                "task_id": e.task_id,
                "sample": e.sample,
                "status": e.status,
                "outcome": e.outcome,
                "reward": e.reward,
                "tokens": e.tokens,
                "seconds": e.seconds,
                "error": (e.trajectory or {}).get("error"),
                "details": (e.trajectory or {}).get("details", {}),
                "steps": steps,
            }
        )
    if json_mode:
        return print_json(
            {
                "run_id": row.id,
                "status": row.status,
                "manifest": row.manifest,
                "summary": row.summary,
                "episodes": episodes,
            }
        )
    out.print(f"[bold]{row.id}[/]  {row.status}  {row.suite}/{row.split}  {row.model}")
    table = Table("task", "outcome", "reward", "steps", "tokens", "seconds")
    for e in episodes:
        table.add_row(
            e["task_id"],
            e["outcome"] or e["status"],
            f"{e['reward']:.2f}",
            str(len(e["steps"])),
            str(e["tokens"]),
            f"{e['seconds']:.1f}",
        )
    out.print(table)
