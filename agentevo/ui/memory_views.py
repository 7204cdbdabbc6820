"""Memory: the items (one SQL page at a time), one item with its versions, search as the agent searches
(cosine and the recall ranking), the commit log with each commit's diff, near-duplicate and contradiction
candidates, and forget / approve / rollback behind a confirmation, made as `agentevo memory …` makes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agentevo.memory.changes import CommitInfo, changed_fields
from agentevo.memory.store import Change, ExperienceStore
from agentevo.memory.tables import MemoryCommitRow, MemoryHistoryRow, MemoryItemRow
from agentevo.records import Experience, Task
from agentevo.ui.paging import int_param, page_of
from agentevo.ui.render import href, redirect, render
from agentevo.ui.security import checked_form
from agentevo.ui.workbench import Workbench

FILTERS = ("kind", "trust", "suite")
DUPLICATE_AT = 0.9  # the curator merges a new item into an old one from this cosine on
RELATED_AT = 0.8  # a pitfall this close to a workflow or an insight may say the opposite
CANDIDATE_PAGE = 25  # items examined per page of candidates: one bounded search each
DIFF_PAGE = 100


def at_of(request: Request) -> str:
    return request.query_params.get("at", "")


def reader(request: Request) -> ExperienceStore | None:
    wb: Workbench = request.app.state.workbench
    return wb.memory(at_of(request))


def experience(data: dict[str, Any]) -> Experience | None:
    try:
        return Experience.model_validate(data)
    except ValidationError:
        return None


def items(request: Request) -> Response:
    store = reader(request)
    filters = {k: request.query_params.get(k, "") for k in FILTERS}
    if store is None:
        return render(
            request,
            "memory_items.html",
            items=[],
            page=page_of(request, 0),
            filters=filters,
            at=at_of(request),
        )
    where = [getattr(MemoryItemRow, k) == v for k, v in filters.items() if v]
    with store.session() as s:
        total = s.exec(select(func.count()).select_from(MemoryItemRow).where(*where)).one()
        page = page_of(request, int(total))
        q = (
            select(MemoryItemRow.data)
            .where(*where)
            .order_by(MemoryItemRow.id)  # the primary key's index: any page is cheap
            .offset(page.offset)
            .limit(page.size)
        )
        found = [e for data in s.exec(q) if (e := experience(data)) is not None]
    return render(
        request, "memory_items.html", items=found, page=page, filters=filters, at=at_of(request), store=store
    )


def item(request: Request) -> Response:
    store = reader(request)
    item_id = request.path_params["item_id"]
    if store is None:
        raise HTTPException(404, "this space has no memory store")
    with store.session() as s:
        row = s.get(MemoryItemRow, item_id)
        q = (
            select(MemoryHistoryRow.seq, MemoryHistoryRow.op, MemoryCommitRow.id, MemoryCommitRow.message)
            .join(MemoryCommitRow, MemoryCommitRow.seq == MemoryHistoryRow.seq)  # type: ignore[arg-type]
            .where(MemoryHistoryRow.item_id == item_id)
            .order_by(MemoryHistoryRow.seq.desc())  # type: ignore[attr-defined]
            .limit(50)
        )
        versions = [dict(r._mapping) for r in s.exec(q)]
    exp = experience(row.data) if row is not None else None
    if exp is None and not versions:
        raise HTTPException(404, f"no memory item {item_id!r}")
    quarantine: list[str] = []
    if exp is not None and exp.trust == "quarantined":
        from agentevo.memory.trust import why_quarantined

        quarantine = why_quarantined(exp)
    return render(
        request, "memory_item.html", item=exp, item_id=item_id, versions=versions, at=at_of(request),
        quarantine=quarantine,
    )  # fmt: skip


# --- search as the agent searches ------------------------------------------------------------------------
@dataclass
class Hit:
    item: Experience
    similarity: float
    score: float | None  # the recall ranking; None when the similarity floor drops it
    shown: bool


def search(request: Request) -> Response:
    """`MemoryRecall` asks the store for `candidates` items in the task's scope and ranks them; the k best
    above the similarity floor (or of the task's template) are what the agent would be shown."""
    from agentevo.memory.recall import MemoryRecall

    store = reader(request)
    query = request.query_params.get("q", "").strip()
    form = {k: request.query_params.get(k, "") for k in ("q", "suite", "site", "template", "kind")}
    hits: list[Hit] = []
    recall = MemoryRecall(store) if store is not None else None  # type: ignore[arg-type]
    if store is not None and recall is not None and query:
        task = Task(
            id="workbench-search",
            suite=form["suite"],
            kind=form["kind"] if form["kind"] in ("web", "os", "code") else "web",  # type: ignore[arg-type]
            instruction=query,
            template_id=form["template"],
            meta={"site": form["site"]} if form["site"] else {},
        )
        k = int_param(request, "k", recall.candidates, 1, 100)
        scope = {key: v for key, v in recall.scope(task).items() if v}
        found = store.search(query, scope=scope, k=k)
        ranked = {r.item.id: r for r in recall.rank(task, found)}
        order = sorted(found, key=lambda h: -(ranked[h[0].id].score if h[0].id in ranked else -1e9))
        shown = [r.item.id for r in recall.rank(task, found)][: recall.k]
        hits = [
            Hit(e, sim, ranked[e.id].score if e.id in ranked else None, e.id in shown) for e, sim in order
        ]
    return render(request, "memory_search.html", hits=hits, form=form, recall=recall, at=at_of(request))


# --- history -----------------------------------------------------------------------------------------------
def log(request: Request) -> Response:
    store = reader(request)
    if store is None:
        return render(request, "memory_log.html", commits=[], page=page_of(request, 0), at=at_of(request))
    with store.session() as s:
        total = s.exec(select(func.count()).select_from(MemoryCommitRow)).one()
        page = page_of(request, int(total))
        q = (
            select(MemoryCommitRow)
            .order_by(MemoryCommitRow.seq.desc())  # type: ignore[attr-defined]
            .offset(page.offset)
            .limit(page.size)
        )
        commits = [CommitInfo.of(r) for r in s.exec(q)]
    return render(
        request, "memory_log.html", commits=commits, page=page, at=at_of(request), head=store.head_id()
    )


@dataclass
class ItemChange:
    op: str
    item_id: str
    before: Experience | None
    after: Experience | None
    fields: list[str]


def commit_changes(
    store: ExperienceStore, info: CommitInfo, offset: int, limit: int
) -> tuple[int, list[ItemChange]]:
    """What one commit did to each item it touched: its version before (the latest older history row of
    that item) and after. Bounded by the commit's own size, one page at a time."""
    h = MemoryHistoryRow
    with store.session() as s:
        total = s.exec(select(func.count()).select_from(h).where(h.seq == info.seq)).one()
        rows = list(
            s.exec(select(h).where(h.seq == info.seq).order_by(h.item_id).offset(offset).limit(limit))  # type: ignore[arg-type]
        )
        changes = []
        for r in rows:
            q = select(h.data).where(h.item_id == r.item_id, h.seq < info.seq).order_by(h.seq.desc()).limit(1)  # type: ignore[attr-defined]
            before_data = s.exec(q).first()
            before = experience(before_data) if before_data else None
            after = experience(r.data) if r.data else None
            fields = changed_fields(before_data or {}, r.data or {}) if before_data and r.data else []
            fields = [f for f in fields if f not in ("updated_at", "commit_id")]
            changes.append(ItemChange(r.op, r.item_id, before, after, fields))
    return int(total), changes


def commit(request: Request) -> Response:
    store = reader(request)
    if store is None:
        raise HTTPException(404, "this space has no memory store")
    info = store.resolve_commit(request.path_params["commit_id"])
    total, _ = commit_changes(store, info, 0, 0)
    page = page_of(request, total, DIFF_PAGE)
    _, changes = commit_changes(store, info, page.offset, page.size)
    return render(
        request, "memory_commit.html", info=info, changes=changes, page=page, at=at_of(request),
        head=store.head_id(),
    )  # fmt: skip


# --- duplicates and contradictions ---------------------------------------------------------------------
@dataclass
class Pair:
    a: Experience
    b: Experience
    similarity: float
    why: str


def candidates(request: Request) -> Response:
    """For one page of items, the store's own search (cosine, same suite scope) finds their nearest
    neighbours: same kind from the curator's merge threshold on is a near-duplicate; a pitfall close to a
    workflow or an insight may contradict it. Each page costs CANDIDATE_PAGE searches, never the store."""
    store = reader(request)
    if store is None:
        return render(
            request, "memory_candidates.html", pairs=[], page=page_of(request, 0), at=at_of(request)
        )
    with store.session() as s:
        total = s.exec(select(func.count()).select_from(MemoryItemRow)).one()
        page = page_of(request, int(total), CANDIDATE_PAGE)
        q = select(MemoryItemRow.data).order_by(MemoryItemRow.id).offset(page.offset).limit(page.size)
        batch = [e for data in s.exec(q) if (e := experience(data)) is not None]
    vectors = store.vectors([e.id for e in batch])
    pairs: dict[tuple[str, str], Pair] = {}
    for e in batch:
        vec = vectors.get(e.id)
        if vec is None:
            continue
        hits = store.search_vector(vec, scope={"suite": e.scope.suite}, k=6, include_quarantined=True)
        for other, sim in hits:
            if other.id == e.id:
                continue
            key = tuple(sorted((e.id, other.id)))
            why = classify(e, other, sim)
            if why and key not in pairs:
                pairs[key] = Pair(e, other, sim, why)  # type: ignore[index]
    found = sorted(pairs.values(), key=lambda p: -p.similarity)
    return render(request, "memory_candidates.html", pairs=found, page=page, at=at_of(request))


def classify(a: Experience, b: Experience, sim: float) -> str:
    if a.kind == b.kind and sim >= DUPLICATE_AT:
        return "near-duplicate"
    if sim >= RELATED_AT and "pitfall" in (a.kind, b.kind) and a.kind != b.kind:
        return "possible contradiction"
    return ""


# --- changes, each behind a confirmation -----------------------------------------------------------------
ACTIONS = {
    "forget": "Forget this item: a commit deletes it (rolling back to an earlier commit brings it back).",
    "approve": "Approve this item: it becomes trusted and retrievable, as after review.",
}


def confirm_item(request: Request) -> Response:
    store = reader(request)
    action = request.path_params["action"]
    if store is None or action not in ACTIONS:
        raise HTTPException(404, "nothing to confirm")
    exp = store.resolve_item(request.path_params["item_id"])
    return render(
        request,
        "memory_confirm.html",
        action=action,
        item=exp,
        info=None,
        text=ACTIONS[action],
        at=at_of(request),
    )


def confirm_rollback(request: Request) -> Response:
    store = reader(request)
    if store is None:
        raise HTTPException(404, "this space has no memory store")
    info = store.resolve_commit(request.path_params["commit_id"])
    head = store.head()
    later = (head.seq - info.seq) if head else 0
    text = (
        f"Roll back to commit {info.id}: the items become exactly what they were just after it, undoing "
        f"{later} later commit(s). The rollback is itself a commit, so nothing is lost."
    )
    return render(
        request, "memory_confirm.html", action="rollback", item=None, info=info, text=text, at=at_of(request)
    )


async def do_item(request: Request) -> Response:
    form = await checked_form(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPException(404, "no such action")
    wb: Workbench = request.app.state.workbench
    at = form.get("at", "")
    message = await run_in_threadpool(change_item, wb, at, action, request.path_params["item_id"])
    return redirect(href(f"/memory/item/{request.path_params['item_id']}", at=at, note=message))


def change_item(wb: Workbench, at: str, action: str, item_id: str) -> str:
    with wb.memory_writer(at) as store:
        e = store.resolve_item(item_id)
        if action == "forget":
            info = store.apply(
                [Change("delete", e.id, None, note="forgotten")], message=f"forget {e.id}", source="ui"
            )
            return f"forgotten in commit {info.id if info else '-'}"
        if e.trust == "trusted":
            return f"{e.id} is already trusted"
        after = e.model_copy(update={"trust": "trusted"})
        info = store.apply(
            [Change("approve", e.id, after, note=f"was {e.trust}")], message=f"approve {e.id}", source="ui"
        )
        return f"approved in commit {info.id if info else '-'}"


async def do_rollback(request: Request) -> Response:
    form = await checked_form(request)
    wb: Workbench = request.app.state.workbench
    at = form.get("at", "")

    def roll() -> str:
        with wb.memory_writer(at) as store:
            info = store.rollback(request.path_params["commit_id"], source_run="workbench")
        return f"rolled back in commit {info.id}" if info else "already at that state: nothing changed"

    message = await run_in_threadpool(roll)
    return redirect(href("/memory/log", at=at, note=message))


def routes(read_only: bool) -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route("/memory", items),
        Route("/memory/item/{item_id}", item),
        Route("/memory/search", search),
        Route("/memory/log", log),
        Route("/memory/commit/{commit_id}", commit),
        Route("/memory/candidates", candidates),
    ]
    if not read_only:
        found += [
            Route("/memory/item/{item_id}/{action}", confirm_item, methods=["GET"]),
            Route("/memory/item/{item_id}/{action}", do_item, methods=["POST"]),
            Route("/memory/commit/{commit_id}/rollback", confirm_rollback, methods=["GET"]),
            Route("/memory/commit/{commit_id}/rollback", do_rollback, methods=["POST"]),
        ]
    return found
