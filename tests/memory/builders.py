"""Hand-built experience and trajectories for the memory tests."""

from __future__ import annotations

import uuid

from agentevo.records import Action, Experience, Observation, Provenance, Scope, Step, Task, Trajectory


def insight(
    text: str, *, suite: str = "humaneval", title: str = "", trajectory: str = "", **kw
) -> Experience:
    return Experience(
        id=kw.pop("id", uuid.uuid4().hex[:12]),
        kind=kw.pop("kind", "insight"),
        title=title or text[:40],
        content=text,
        scope=Scope(suite=suite, template=kw.pop("template", "")),
        provenance=Provenance(trajectory_ids=(trajectory,) if trajectory else (), source="test"),
        **kw,
    )


def step(
    index: int,
    raw: str,
    text: str,
    *,
    name: str = "run",
    done: bool = False,
    error: str | None = None,
    retrieved: tuple[str, ...] = (),
    url: str | None = None,
) -> Step:
    return Step(
        index=index,
        action=Action(name=name, args={"command": raw}, raw=raw),
        observation=Observation(text=text, done=done, error=error, url=url),
        model_reply=raw,
        retrieved=retrieved,
    )


def trajectory(
    instruction: str,
    steps: list[Step],
    *,
    kind: str = "os",
    suite: str = "ostasks",
    template: str = "t1",
    outcome: str = "success",
    run_id: str = "run-1",
    meta: dict | None = None,
) -> Trajectory:
    task = Task(
        id=f"{template}-{uuid.uuid4().hex[:6]}",
        suite=suite,
        kind=kind,
        instruction=instruction,
        template_id=template,
        meta=meta or {},
    )
    return Trajectory(
        id=f"{run_id}:{task.id}#0",
        run_id=run_id,
        task=task,
        steps=tuple(steps),
        outcome=outcome,
        reward=1.0 if outcome == "success" else 0.0,
        model="scripted",
    )
