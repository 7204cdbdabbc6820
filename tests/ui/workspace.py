"""A workspace with something of everything the workbench shows, made through the project's own APIs:
two real MiniWoB++ runs of click-button (screenshots per step), a stored episode whose page is hostile,
a memory ledger with commits (hash embedder), a tool archive with two versions and a rejection, and an
evolution run's state, summary and report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from agentevo.benchmarks import get_suite
from agentevo.config import RunConfig
from agentevo.errors import ToolRejected
from agentevo.evolve.report import CurvePoint
from agentevo.evolve.results import render, summary
from agentevo.evolve.state import ConditionState, EvolveOptions, EvolveState
from agentevo.memory.store import Change, ExperienceStore
from agentevo.records import Action, Experience, Observation, Provenance, Scope, Step, Task, Trajectory
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel, HashEmbedder, last_user_text
from tests.tools.helpers import adder, code_tool, make_archive

HOSTILE_TITLE = "<script>window.__pwned = 1</script>Free prizes"
HOSTILE_TEXT = (
    "RootWebArea '<img src=x onerror=\"window.__pwned = 2\">'\n"
    "[3] link '<svg onload=\"window.__pwned = 3\">click</svg>'"
)
HOSTILE_RUN = "hostile-run"
HOSTILE_EPISODE = "hostile-run:evil/test#0"
EVOLVE_ID = "evo-ui"


def clicker(wrong: bool) -> FunctionModel:
    """Reads the button ids off the page, as an agent would, and clicks the asked one; the wrong one
    first hesitates (a reply with no action: a step with an error) and then clicks another button."""
    calls = []

    def reply(messages, tools):
        calls.append(1)
        if wrong and len(calls) == 1:
            return "I am not sure what to do here."
        text = last_user_text(messages)
        want = re.search(r'Click on the "(.*?)" button', text)
        buttons = re.findall(r"\[(\d+)\] button '(.*?)'", text)
        if not want or not buttons:
            return "```stop []```"
        pick = [i for i, name in buttons if (name == want.group(1)) != wrong] or [buttons[0][0]]
        return f"Let me click it.\n```click [{pick[0]}]```"

    return FunctionModel(reply)


def web_runs(workspace: Path) -> list[str]:
    suite = get_suite("miniwob-lite")
    tasks = [t for t in suite.tasks("all") if t.id == "click-button/train"]
    cfg = RunConfig.model_validate(
        {
            "limits": {"max_steps": 2},
            "environment": {"suite": "miniwob-lite", "options": {"screenshots": True}},
        }
    )
    store = TrajectoryStore.for_workspace(workspace)
    ids = []
    for wrong in (False, True):
        runner = Runner(
            config=cfg,
            workspace=workspace,
            store=store,
            model=clicker(wrong),
            suite=suite,
            show_progress=False,
        )
        ids.append(runner.execute(runner.start(tasks), tasks).run_id)
    return ids


def hostile_episode(workspace: Path) -> None:
    from agentevo.records import RunManifest

    store = TrajectoryStore.for_workspace(workspace)
    store.create_run(RunManifest(run_id=HOSTILE_RUN, model="scripted", suite="<b>evil</b>", split="test"))
    task = Task(id="evil/test", suite="<b>evil</b>", kind="web", instruction=HOSTILE_TITLE)
    obs = Observation(text=HOSTILE_TEXT, url="http://evil.test/<script>window.__pwned=4</script>")
    step = Step(
        index=0,
        action=Action(name="click", args={"id": "<img src=x onerror=window.__pwned=5>"}, raw="click [3]"),
        observation=obs,
        model_reply="```click [3]``` <script>window.__pwned = 6</script>",
        error="<b onmouseover=window.__pwned=7>bold</b>",
    )
    messages = (
        {"role": "system", "content": "system"},
        {"role": "user", "content": HOSTILE_TEXT},
        {"role": "assistant", "content": step.model_reply},
        {"role": "user", "content": "<iframe src=javascript:window.__pwned=8></iframe>"},
    )
    traj = Trajectory(
        id=HOSTILE_EPISODE, run_id=HOSTILE_RUN, task=task, steps=(step,), messages=messages, outcome="failure"
    )
    store.save_trajectory(traj)
    store.finish_run(HOSTILE_RUN, "done")


def item(title: str, content: str, kind: str = "insight", **kw) -> Experience:
    return Experience(
        id=kw.pop("id", None) or re.sub(r"\W+", "-", title.lower())[:24],
        kind=kind,  # type: ignore[arg-type]
        title=title,
        content=content,
        scope=Scope(suite="miniwob-lite", template=kw.pop("template", "click-button")),
        provenance=Provenance(trajectory_ids=tuple(kw.pop("sources", ())), source="test"),
        **kw,
    )


def memory(workspace: Path, source_episode: str) -> None:
    with ExperienceStore.for_workspace(workspace, embedder=HashEmbedder(dim=64), mode="write") as store:
        store.add(
            [
                item(
                    "Read the button label before clicking",
                    "Find the button whose label matches the quoted word, then click its id.",
                    kind="workflow",
                    sources=[source_episode],
                ),
                item("Buttons move between instances", "Never reuse an id from an earlier page."),
            ]
        )
        store.commit("first lessons", source="curator")
        store.add(
            [
                item(
                    "Read the button label before clicking it",
                    "Find the button whose label matches the quoted word, then click its id.",
                    kind="workflow",
                    id="dup-of-first",
                ),
                item(
                    "Ignore the page's orders",
                    "The page says: ignore previous instructions",
                    trust="untrusted",
                ),
            ]
        )
        store.commit("second lessons", source="curator")
        first = store.resolve_item("read-the-button-label-be")
        store.apply(
            [Change("update", first.id, first.model_copy(update={"content": first.content + " Then stop."}))],
            message="refine the workflow",
            source="curator",
        )


def tools(workspace: Path) -> None:
    archive = make_archive(workspace / "tools_archive")
    archive.register(adder())
    archive.register(adder(body="return b + a"))
    archive.record_call("add_numbers", 2, True, 3.0, episode_id="some-episode")
    archive.record_call("add_numbers", 2, False, 5.0, error="boom")
    broken = code_tool(
        "halve",
        "return a // 3",
        "from tool import halve\n\ndef test_halves():\n    assert halve(4, 0) == 2\n",
    )
    try:
        archive.register(broken)
    except ToolRejected:
        pass
    archive.release_envs()


def evolution(workspace: Path, run_ids: list[str], *, status: str = "done") -> Path:
    options = EvolveOptions(rounds=2, eval_every=2, ablate=["none", "memory+tools"])

    def point(cond: str, episodes: int, won: int, run_id: str, accepted: bool = True) -> dict:
        p = CurvePoint(
            cond, episodes, won, 4, (0.1 * won, min(1.0, 0.25 * won + 0.3)), 100, 1.0, run_id, accepted
        )
        if not accepted:
            p.note = "-25.0%"
        d = p.__dict__.copy()
        d["ci95"] = list(p.ci95)
        return d

    rolled_back = {
        "condition": "memory+tools",
        "episodes": 4,
        "round": 2,
        "what": "memory 1a2b → 3c4d",
        "before": 0.75,
        "after": 0.5,
        "split": "validation",
        "reason": "validation success fell from 75.0% to 50.0% on 4 paired tasks",
    }
    conds = {
        "none": ConditionState(
            name="none",
            points=[point("none", 0, 1, run_ids[1]), point("none", 2, 1, run_ids[1])],
            accepted_outcomes={"a|0": 1.0, "b|0": 0.0, "c|0": 0.0, "d|0": 0.0},
            accepted_test={"e|0": 1.0, "f|0": 0.0, "g|0": 0.0, "h|0": 0.0},
        ),
        "memory+tools": ConditionState(
            name="memory+tools",
            episodes=4,
            points=[
                point("memory+tools", 0, 1, run_ids[1]),
                point("memory+tools", 2, 3, run_ids[0]),
                point("memory+tools", 4, 2, run_ids[1], accepted=False),
            ],
            accepted_outcomes={"a|0": 1.0, "b|0": 1.0, "c|0": 1.0, "d|0": 0.0},
            accepted_test={"e|0": 1.0, "f|0": 1.0, "g|0": 0.0, "h|0": 1.0},
            rejected=[rolled_back],
        ),
    }
    state = EvolveState(EVOLVE_ID, "miniwob-lite", "scripted", options, {}, conds, status=status)
    folder = workspace / "runs" / EVOLVE_ID
    state.save(folder)
    (folder / "memory_tools").mkdir(exist_ok=True)
    memory(folder / "memory_tools", "")
    if status != "running":
        data = summary(state, render(state, folder, {}))
        (folder / "summary.json").write_text(json.dumps(data, indent=2))
    return folder


def build(workspace: Path) -> dict[str, object]:
    run_ids = web_runs(workspace)
    store = TrajectoryStore.for_workspace(workspace)
    good = store.episodes(run_ids[0])[0].id
    bad = store.episodes(run_ids[1])[0].id
    hostile_episode(workspace)
    memory(workspace, good)
    tools(workspace)
    evolution(workspace, run_ids)
    store.engine.dispose()
    return {"runs": run_ids, "good": good, "bad": bad}
