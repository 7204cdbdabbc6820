"""Evolution runs: the learning curve (interactive SVG), the ablation table with its intervals, every gate
decision with its figures and a link to the memory and tools it concerned, the static report, and live
updates of a running `agentevo evolve` (server-sent events whenever its state.json changes).

runs/<evolve_id>/state.json and summary.json are read defensively: their shape grows (validation and test
splits, several training runs per condition), so fields that are present are shown and missing or new ones
never break a page.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from agentevo.ui import chart
from agentevo.ui.paging import page_of
from agentevo.ui.render import render
from agentevo.ui.workbench import Workbench, scalar_items

FILES = ("state.json", "summary.json")
POLL_S = 0.5
KEEPALIVE_S = 15.0
STREAM_S = 3600.0  # the browser reconnects after this
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
ABLATION_KNOWN = (
    "condition", "success_rate", "ci95", "ci_method", "n", "diff_vs_none", "diff_ci95", "p_value",
    "steps_per_solved", "tokens", "tokens_per_solved", "episodes_trained", "evaluated_after",
    "rejected_commits", "stopped",
)  # fmt: skip


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass
class Evolution:
    id: str
    folder: Path
    state: dict[str, Any]
    summary: dict[str, Any]
    spaces: list[str] = field(default_factory=list)  # condition folders with memory or tools

    def get(self, key: str, default: Any = "") -> Any:
        return self.state.get(key, self.summary.get(key, default))

    @property
    def conditions(self) -> dict[str, dict[str, Any]]:
        conds = self.state.get("conditions")
        return {str(k): v for k, v in conds.items() if isinstance(v, dict)} if isinstance(conds, dict) else {}

    @property
    def points(self) -> list[dict[str, Any]]:
        """Every evaluation: from state.json (live), each condition's points and those of any list of
        sub-runs it keeps (e.g. independent training runs); else summary.json's."""
        found: list[dict[str, Any]] = []
        for name, cond in self.conditions.items():
            found += [{"condition": name, **p} for p in dicts(cond.get("points"))]
            for key, value in cond.items():
                for i, sub in enumerate(dicts(value)):
                    if isinstance(sub.get("points"), list):
                        found += [
                            {"condition": name, "training_run": f"{key} {sub.get('name', i)}", **p}
                            for p in dicts(sub["points"])
                        ]
        return found or dicts(self.summary.get("points"))

    @property
    def rejected(self) -> list[dict[str, Any]]:
        found = [{"condition": n, **r} for n, c in self.conditions.items() for r in dicts(c.get("rejected"))]
        return found or dicts(self.summary.get("rejected"))

    @property
    def ablations(self) -> dict[str, list[dict[str, Any]]]:
        """Ablation rows by table: one unnamed table, or one per key when the summary splits them."""
        value = self.summary.get("ablations")
        if isinstance(value, list):
            return {"": dicts(value)}
        if isinstance(value, dict):
            return {str(k): dicts(v) for k, v in value.items() if dicts(v)}
        return {}

    @property
    def running(self) -> bool:
        return str(self.get("status", "")) == "running"

    def spaces_for(self, condition: str) -> list[str]:
        prefix = condition.replace("+", "_")
        return [s for s in self.spaces if Path(s).name.startswith(prefix)]


def evolve_folders(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    found = []
    with os.scandir(runs_dir) as entries:
        for entry in entries:
            if entry.is_dir() and any(os.path.exists(os.path.join(entry.path, f)) for f in FILES):
                found.append(Path(entry.path))
    return sorted(found, key=lambda p: mtime(p), reverse=True)


def mtime(folder: Path) -> int:
    stamps = []
    for name in FILES:
        try:
            stamps.append((folder / name).stat().st_mtime_ns)
        except OSError:
            continue
    return max(stamps, default=0)


def folder_of(request: Request) -> Path:
    wb: Workbench = request.app.state.workbench
    name = request.path_params["evolve_id"]
    folder = (wb.runs_dir / name).resolve()
    if folder.parent != wb.runs_dir.resolve() or not any((folder / f).exists() for f in FILES):
        raise HTTPException(404, f"no evolution run {name!r}")
    return folder


def load(wb: Workbench, folder: Path) -> Evolution:
    spaces = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (sub / "memory_store").is_dir() or (sub / "tools_archive").is_dir():
            spaces.append(str(sub.relative_to(wb.workspace)))
    return Evolution(
        folder.name, folder, read_json(folder / "state.json"), read_json(folder / "summary.json"), spaces
    )


def evolve_list(request: Request) -> Response:
    wb: Workbench = request.app.state.workbench
    folders = evolve_folders(wb.runs_dir)
    page = page_of(request, len(folders))
    runs = [load(wb, f) for f in folders[page.offset : page.offset + page.size]]
    return render(request, "evolve_list.html", runs=runs, page=page)


def evolve_view(request: Request) -> Response:
    wb: Workbench = request.app.state.workbench
    evo = load(wb, folder_of(request))
    options = evo.get("options", {})
    return render(
        request,
        "evolve.html",
        evo=evo,
        chart=chart.build(evo.points),
        options=scalar_items(options) if isinstance(options, dict) else [],
        known=ABLATION_KNOWN,
        scalar_items=scalar_items,
    )


async def events(request: Request) -> Response:
    """`state` whenever state.json or summary.json changes; `done` once the run is no longer running."""
    folder = folder_of(request)

    async def stream() -> Any:
        last = mtime(folder)
        quiet_since = started = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - started < STREAM_S:
            now = mtime(folder)
            status = str(read_json(folder / "state.json").get("status", "")) if now != last else None
            if now != last:
                last, quiet_since = now, time.monotonic()
                yield f"event: state\ndata: {json.dumps({'status': status})}\n\n"
            if (status or current_status(folder)) != "running":
                yield "event: done\ndata: {}\n\n"
                return
            if time.monotonic() - quiet_since > KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})


def current_status(folder: Path) -> str:
    state = read_json(folder / "state.json") or read_json(folder / "summary.json")
    return str(state.get("status", ""))


def report(request: Request) -> Response:
    """The run's own report.html: inline styles and a data: image, no script (a policy of its own)."""
    path = folder_of(request) / "report.html"
    if not path.is_file():
        raise HTTPException(404, "this run has no report yet")
    return FileResponse(path, media_type="text/html", headers={"content-security-policy": REPORT_CSP})


def curve_png(request: Request) -> Response:
    path = folder_of(request) / "learning_curve.png"
    if not path.is_file():
        raise HTTPException(404, "this run has no learning curve yet")
    return FileResponse(path, media_type="image/png")


def routes(read_only: bool) -> list[BaseRoute]:
    return [
        Route("/evolve", evolve_list),
        Route("/evolve/{evolve_id}", evolve_view),
        Route("/evolve/{evolve_id}/events", events),
        Route("/evolve/{evolve_id}/report.html", report),
        Route("/evolve/{evolve_id}/learning_curve.png", curve_png),
    ]
