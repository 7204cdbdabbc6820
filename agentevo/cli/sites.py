"""`agentevo sites up | reset | status`: serve the local sites for people (and for runs pointed at them).

`up` serves every site until Ctrl-C and records their URLs in `<workspace>/.agentevo/sites.json`, which
`reset` and `status` read (or pass `--url`). Runs of `local-web` normally start their own private sites;
`AGENTEVO_SHOP_URL` / `AGENTEVO_FORUM_URL` point them at these instead (one worker only: shared state).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from agentevo.cli.options import Json, Workspace
from agentevo.console import err, out, print_json
from agentevo.envs.sites.served import request_json, served_urls, state_file
from agentevo.errors import EnvError

sites_app = typer.Typer(
    help="Serve and reset the local web sites of the local-web suite.", no_args_is_help=True
)

UrlOpt = Annotated[
    list[str] | None,
    typer.Option("--url", help="A site's base URL (repeatable); default: what `sites up` serves."),
]


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@sites_app.command("up")
def up(
    port: Annotated[
        int, typer.Option(help="Port of the shop; the forum takes the next one. 0 = any free ports.")
    ] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    workspace: Workspace = None,
    json_mode: Json = False,
) -> None:
    """Serve the shop and the forum until Ctrl-C; print their URLs and accounts."""
    from agentevo.envs.sites import ACCOUNTS, SiteSet

    ports = {"shop": port, "forum": port + 1} if port else None
    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops the sites as cleanly as Ctrl-C
    sites = SiteSet.start(ports, host)
    record = state_file(workspace)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"pid": os.getpid(), "urls": sites.urls}, indent=1))
        rows = [
            {"site": n, "url": u, "username": ACCOUNTS[n]["username"], "password": ACCOUNTS[n]["password"]}
            for n, u in sites.urls.items()
        ]
        if json_mode:
            print_json({"sites": rows, "reset": {n: f"POST {u}/__reset" for n, u in sites.urls.items()}})
        else:
            table = Table("site", "url", "username", "password")
            for r in rows:
                table.add_row(r["site"], r["url"], r["username"], r["password"])
            out.print(table)
            err.print("reset: agentevo sites reset (or POST <url>/__reset) · stop: Ctrl-C")
        threading.Event().wait()  # serve until interrupted
    except KeyboardInterrupt:
        err.print("stopping the sites")
    finally:
        sites.stop()
        record.unlink(missing_ok=True)


@sites_app.command("reset")
def reset(workspace: Workspace = None, url: UrlOpt = None, json_mode: Json = False) -> None:
    """Restore every served site to its seed data."""
    rows = []
    for name, u in served_urls(workspace, url).items():
        result = request_json(f"{u}/__reset", "POST")
        rows.append({"site": result.get("site", name), "url": u, "ms": 1000 * result.get("seconds", 0.0)})
    if json_mode:
        return print_json(rows)
    for r in rows:
        out.print(f"{r['site']}: reset in {r['ms']:.2f} ms ({r['url']})")


@sites_app.command("status")
def status(workspace: Workspace = None, url: UrlOpt = None, json_mode: Json = False) -> None:
    """Say whether the sites answer, and how often they were reset."""
    from agentevo.envs.sites import remote_health

    rows = []
    for name, u in served_urls(workspace, url).items():
        try:
            health = remote_health(u)
            rows.append(
                {"site": health.get("site", name), "url": u, "up": True, "resets": health.get("resets", 0)}
            )
        except EnvError:
            rows.append({"site": name, "url": u, "up": False, "resets": None})
    if json_mode:
        print_json(rows)
    else:
        table = Table("site", "url", "status", "resets")
        for r in rows:
            table.add_row(
                r["site"], r["url"], "[green]up[/]" if r["up"] else "[red]down[/]", str(r["resets"] or 0)
            )
        out.print(table)
    if not all(r["up"] for r in rows):
        raise typer.Exit(1)
