"""Runs and episodes: the runs list with success and its Wilson interval, one run's episodes, an episode step
by step (observation, the model's messages and reply, the parsed action, screenshots), and two episodes of
the same task side by side. Every list is one SQL page; a trajectory's JSON is read only for the episode
being shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import case, func
from sqlmodel import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from agentevo.records import Message, Step
from agentevo.runs.store import EpisodeRow, RunRow, TrajectoryStore
from agentevo.runs.summary import wilson
from agentevo.ui.paging import int_param, page_of
from agentevo.ui.render import render
from agentevo.ui.workbench import Workbench

RUN_COLUMNS = (
    RunRow.id,
    RunRow.created_at,
    RunRow.status,
    RunRow.model,
    RunRow.suite,
    RunRow.split,
    RunRow.kind,
)
EPISODE_COLUMNS = (
    EpisodeRow.id,
    EpisodeRow.run_id,
    EpisodeRow.task_id,
    EpisodeRow.sample,
    EpisodeRow.status,
    EpisodeRow.outcome,
    EpisodeRow.reward,
    EpisodeRow.steps,
    EpisodeRow.tokens,
    EpisodeRow.seconds,
    EpisodeRow.model,
    EpisodeRow.created_at,
)
OBSERVATION_CHARS = 20_000  # a page's text is long: the rest is a click away in the raw JSON


@dataclass
class RunLine:
    id: str
    created_at: Any
    status: str
    model: str
    suite: str
    split: str
    kind: str
    episodes: int = 0
    successes: int = 0

    @property
    def rate(self) -> float | None:
        return self.successes / self.episodes if self.episodes else None

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson(self.successes, self.episodes)


def store_of(request: Request) -> TrajectoryStore | None:
    wb: Workbench = request.app.state.workbench
    return wb.runs()


def tallies(s: Any, run_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Finished episodes and successes per run, for one page of runs (one grouped query)."""
    if not run_ids:
        return {}
    won = func.sum(case((EpisodeRow.outcome == "success", 1), else_=0))
    q = (
        select(EpisodeRow.run_id, func.count(), won)
        .where(EpisodeRow.run_id.in_(run_ids), EpisodeRow.status == "done")  # type: ignore[attr-defined]
        .group_by(EpisodeRow.run_id)
    )
    return {r: (int(n), int(w or 0)) for r, n, w in s.exec(q)}


def runs_list(request: Request) -> Response:
    store = store_of(request)
    if store is None:
        return render(request, "runs.html", runs=[], page=page_of(request, 0), filters={})
    filters = {k: request.query_params.get(k, "") for k in ("suite", "model", "kind")}
    with store.session() as s:
        conditions = [getattr(RunRow, k) == v for k, v in filters.items() if v]
        total = s.exec(select(func.count()).select_from(RunRow).where(*conditions)).one()
        page = page_of(request, int(total))
        q = (
            select(*RUN_COLUMNS)
            .where(*conditions)
            .order_by(RunRow.created_at.desc(), RunRow.id)  # type: ignore[attr-defined]
            .offset(page.offset)
            .limit(page.size)
        )
        runs = [RunLine(*row) for row in s.exec(q)]
        counts = tallies(s, [r.id for r in runs])
    for r in runs:
        r.episodes, r.successes = counts.get(r.id, (0, 0))
    return render(request, "runs.html", runs=runs, page=page, filters=filters)


def run_view(request: Request) -> Response:
    store = store_of(request)
    run_id = request.path_params["run_id"]
    row = store.get_run(run_id) if store else None
    if store is None or row is None:
        raise HTTPException(404, f"no run {run_id!r}")
    outcome = request.query_params.get("outcome", "")
    with store.session() as s:
        where = [EpisodeRow.run_id == run_id]
        line = RunLine(*run_fields(row), *tallies(s, [run_id]).get(run_id, (0, 0)))
        if outcome:
            where.append(EpisodeRow.outcome == outcome)
        total = s.exec(select(func.count()).select_from(EpisodeRow).where(*where)).one()
        page = page_of(request, int(total))
        q = (
            select(*EPISODE_COLUMNS)
            .where(*where)
            .order_by(EpisodeRow.created_at, EpisodeRow.id)
            .offset(page.offset)
            .limit(page.size)
        )
        episodes = [dict(r._mapping) for r in s.exec(q)]
        outcomes = dict(
            s.exec(
                select(EpisodeRow.outcome, func.count())
                .where(EpisodeRow.run_id == run_id)
                .group_by(EpisodeRow.outcome)
            ).all()
        )
    manifest = row.manifest or {}
    return render(
        request,
        "run.html",
        run=row,
        line=line,
        manifest=manifest,
        summary=row.summary or {},
        episodes=episodes,
        page=page,
        outcome=outcome,
        outcomes=outcomes,
    )


def run_fields(row: RunRow) -> tuple[Any, ...]:
    return (row.id, row.created_at, row.status, row.model, row.suite, row.split, row.kind)


# --- one episode ------------------------------------------------------------------------------------------
@dataclass
class StepView:
    step: Step
    prompt: list[Message] = field(default_factory=list)  # what the model was sent that it had not seen
    context: int = 0  # how many messages came before those
    reply: Message | None = None
    screenshot: bool = False


@dataclass
class EpisodeView:
    row: EpisodeRow
    steps: list[StepView]
    messages: list[Message]
    trajectory: dict[str, Any]


def load_episode(store: TrajectoryStore, episode_id: str, runs_dir: Path) -> EpisodeView:
    with store.session() as s:
        row = s.get(EpisodeRow, episode_id)
    if row is None:
        raise HTTPException(404, f"no episode {episode_id!r}")
    traj = row.trajectory or {}
    try:
        steps = [Step.model_validate(x) for x in traj.get("steps", [])] if traj else store.steps(episode_id)
    except ValidationError:  # a newer format: the step rows are plain records too
        steps = store.steps(episode_id)
    messages = [m for m in traj.get("messages", []) if isinstance(m, dict)]
    views = [StepView(step, screenshot=screenshot_of(runs_dir, row, step) is not None) for step in steps]
    attach_messages(views, messages)
    return EpisodeView(row, views, messages, traj)


def attach_messages(views: list[StepView], messages: list[Message]) -> None:
    """The graph appends (reply, feedback) per step after the first prompt: step i's reply sits at
    base + 2i, and the message before it is what the model saw new (all of the prompt, for step 0)."""
    base = len(messages) - 2 * len(views)
    if base < 1:
        return
    for i, view in enumerate(views):
        at = base + 2 * i
        if messages[at].get("role") != "assistant":
            return
        view.reply = messages[at]
        view.prompt = list(messages[:at]) if i == 0 else [messages[at - 1]]
        view.context = 0 if i == 0 else at - 1


def screenshot_of(runs_dir: Path, row: EpisodeRow, step: Step) -> Path | None:
    """The step's PNG, which must lie in this run's screenshots folder (a moved workspace is followed)."""
    recorded = step.observation.screenshot_path
    if not recorded:
        return None
    folder = (runs_dir / row.run_id / "screenshots").resolve()
    candidates = [Path(recorded)]
    parts = Path(recorded).parts
    if "screenshots" in parts:  # the same file under this workspace, wherever it was written
        candidates.append(folder.joinpath(*parts[parts.index("screenshots") + 1 :]))
    for path in candidates:
        path = path.resolve()
        if path.suffix == ".png" and path.is_relative_to(folder) and path.is_file():
            return path
    return None


def episode_view(request: Request) -> Response:
    store = store_of(request)
    if store is None:
        raise HTTPException(404, "this workspace has no runs")
    wb: Workbench = request.app.state.workbench
    ep = load_episode(store, request.query_params.get("id", ""), wb.runs_dir)
    index = int_param(request, "step", 0, 0, max(0, len(ep.steps) - 1))
    current = ep.steps[index] if ep.steps else None
    return render(
        request,
        "episode.html",
        ep=ep,
        row=ep.row,
        current=current,
        index=index,
        observation_chars=OBSERVATION_CHARS,
        task=ep.trajectory.get("task") or ep.row.task or {},
        details=ep.trajectory.get("details") or {},
    )


def screenshot(request: Request) -> Response:
    store = store_of(request)
    if store is None:
        raise HTTPException(404, "this workspace has no runs")
    wb: Workbench = request.app.state.workbench
    ep = load_episode(store, request.query_params.get("episode", ""), wb.runs_dir)
    index = int_param(request, "step", 0, 0)
    if index >= len(ep.steps):
        raise HTTPException(404, "no such step")
    path = screenshot_of(wb.runs_dir, ep.row, ep.steps[index].step)
    if path is None:
        raise HTTPException(404, "this step has no screenshot")
    return FileResponse(path, media_type="image/png")


def compare(request: Request) -> Response:
    """Two episodes of one task side by side; with one, the other episodes of its task to choose from."""
    store = store_of(request)
    if store is None:
        raise HTTPException(404, "this workspace has no runs")
    wb: Workbench = request.app.state.workbench
    a = load_episode(store, request.query_params.get("a", ""), wb.runs_dir)
    b_id = request.query_params.get("b", "")
    if not b_id:
        with store.session() as s:
            where = [EpisodeRow.task_id == a.row.task_id, EpisodeRow.id != a.row.id]
            total = s.exec(select(func.count()).select_from(EpisodeRow).where(*where)).one()
            page = page_of(request, int(total))
            q = (
                select(*EPISODE_COLUMNS)
                .where(*where)
                .order_by(EpisodeRow.created_at.desc())  # type: ignore[attr-defined]
                .offset(page.offset)
                .limit(page.size)
            )
            others = [dict(r._mapping) for r in s.exec(q)]
        return render(request, "compare_pick.html", a=a, others=others, page=page)
    b = load_episode(store, b_id, wb.runs_dir)
    rows = max(len(a.steps), len(b.steps))
    return render(request, "compare.html", a=a, b=b, rows=range(rows))


def routes(read_only: bool) -> list[BaseRoute]:
    return [
        Route("/runs", runs_list),
        Route("/runs/{run_id}", run_view),
        Route("/episode", episode_view),
        Route("/shot", screenshot),
        Route("/compare", compare),
    ]
