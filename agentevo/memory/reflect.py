"""The deterministic reflector: experience from a trajectory without any model.

    success  →  a `workflow`: the successful action sequence, parameterised against the instruction
                (values the instruction names become {param}s), with a demonstration the agent can be shown
                as user/assistant turns for a new instance of the same template (code: the instruction and
                the solution that passed; os: the instruction, then each action and its output; web:
                each observation, its page text quoted, and the action — agentevo.envs.web.demonstration)
    failure  →  a `pitfall`: what was tried last and the error it met
    error    →  nothing (the harness failed, not the agent)

Because it needs no LLM, even the embedded 135M model gains usable experience: small models copy a
demonstration far more reliably than they follow advice in prose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlparse

from agentevo.kinds import kind
from agentevo.memory.changes import new_id
from agentevo.memory.params import parameterise, substitute
from agentevo.memory.trust import source_trust
from agentevo.protocols import Reflector
from agentevo.records import Experience, Message, Provenance, Scope, Step, Task, Trajectory

OBS_CHARS = 600
ERROR_CHARS = 500
SOURCE = "workflow-extractor"


def clip(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def first_line(text: str, n: int = 80) -> str:
    for line in text.strip().splitlines():
        line = line.strip().strip("`").strip()
        if line and not line.lower().startswith(("complete this", "```")):
            return clip(line, n)
    return clip(text.replace("\n", " "), n)


def gist(text: str, n: int = 70) -> str:
    """The telling line of an error: the last `SomethingError: …` line when there is one."""
    errors = [ln.strip() for ln in text.splitlines() if re.match(r"^\s*\w*(Error|Exception|Timeout)\b", ln)]
    return clip(errors[-1], n) if errors else first_line(text, n)


def task_site(task: Task) -> str:
    """The site a task names: `meta.site`, or the first of WebArena's `meta.sites`."""
    site = task.meta.get("site") or next(iter(task.meta.get("sites") or []), "")
    return str(site or "")


def site_of(trajectory: Trajectory) -> str:
    """The task's site, else the host of the first page the episode saw."""
    site = task_site(trajectory.task)
    if site:
        return site
    url = next((s.observation.url for s in trajectory.steps if s.observation.url), None)
    return urlparse(url).hostname or "" if url else ""


def scope_of(trajectory: Trajectory) -> Scope:
    return Scope(suite=trajectory.task.suite, site=site_of(trajectory), template=trajectory.task.template_id)


def provenance_of(trajectory: Trajectory, source: str) -> Provenance:
    return Provenance(
        trajectory_ids=(trajectory.id,),
        run_id=trajectory.run_id,
        model=trajectory.model,
        judge=trajectory.judge or "",
        source=source,
    )


def good_steps(trajectory: Trajectory) -> list[Step]:
    """The successful action sequence: steps whose action ran without an error (code: the passing one)."""
    steps = [
        s for s in trajectory.steps if s.action is not None and s.error is None and not s.observation.error
    ]
    return kind(trajectory.task.kind).workflow_steps(steps)


def demonstration(trajectory: Trajectory, steps: Sequence[Step]) -> tuple[Message, ...]:
    own = kind(trajectory.task.kind).demonstration
    if own is not None:
        return own(trajectory, steps)
    shown_action = kind(trajectory.task.kind).shown_action  # how the agent's reply is shown again
    turns: list[Message] = []
    prompt = trajectory.task.instruction
    for step in steps:
        turns += [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": shown_action(step)},
        ]
        prompt = clip(step.observation.text, OBS_CHARS) or "(no output)"
    return tuple(turns)


def workflow(trajectory: Trajectory) -> Experience | None:
    steps = good_steps(trajectory)
    if not steps:
        return None
    shown_action = kind(trajectory.task.kind).shown_action
    template, params = parameterise(trajectory.task.instruction)
    lines = [f"{i}. {substitute(shown_action(s), params)}" for i, s in enumerate(steps, 1)]
    names = ", ".join(f"{k} (e.g. {clip(v, 60)!r})" for k, v in params.items()) or "none"
    content = f"Parameters: {names}\nSteps:\n" + "\n".join(lines)
    label = trajectory.task.template_id or trajectory.task.id
    return Experience(
        id=new_id(),
        kind="workflow",
        title=f"Workflow for {label}: {first_line(trajectory.task.instruction)}",
        description=template,
        content=content,
        scope=scope_of(trajectory),
        provenance=provenance_of(trajectory, SOURCE),
        trust=source_trust(trajectory),  # type: ignore[arg-type]
        env_fingerprint=str(trajectory.task.meta.get("env_fingerprint", "")),
        demonstration=demonstration(trajectory, steps),
    )


def failure_of(trajectory: Trajectory) -> tuple[str, str]:
    """(what was tried, what went wrong) in the last step that shows a failure."""
    for step in reversed(trajectory.steps):
        tried = (
            kind(trajectory.task.kind).shown_action(step)
            if step.action is not None
            else clip(step.model_reply, 300)
        )
        if step.error:
            return tried, f"the reply could not be used: {step.error}"
        if step.observation.error:
            return tried, step.observation.error
        if step.action is not None and not step.observation.done:
            return tried, step.observation.text
    reason = str(trajectory.details.get("stop_reason", "") or trajectory.outcome)
    return "", f"the episode ended without success ({reason})"


def pitfall(trajectory: Trajectory) -> Experience:
    tried, seen = failure_of(trajectory)
    label = trajectory.task.template_id or trajectory.task.id
    content = f"Task: {clip(trajectory.task.instruction, 300)}\n"
    if tried:
        content += f"Tried:\n{clip(tried, 600)}\n"
    content += f"Result: {clip(seen, ERROR_CHARS)}\nDo not repeat this attempt; change the approach."
    return Experience(
        id=new_id(),
        kind="pitfall",
        title=f"Pitfall on {label}: {gist(seen)}",
        description=f"An attempt at {label} that failed ({trajectory.outcome}).",
        content=content,
        scope=scope_of(trajectory),
        provenance=provenance_of(trajectory, SOURCE),
        trust=source_trust(trajectory),  # type: ignore[arg-type]
        env_fingerprint=str(trajectory.task.meta.get("env_fingerprint", "")),
    )


class WorkflowReflector:
    """A workflow from each success, a pitfall from each failure; no model involved."""

    name = "workflow"

    def reflect(self, trajectory: Trajectory, *, known: Sequence[Experience] = ()) -> list[Experience]:
        if trajectory.outcome == "error" or not trajectory.steps:
            return []
        if trajectory.succeeded:
            item = workflow(trajectory)
            return [item] if item is not None else []
        return [pitfall(trajectory)]


class CombinedReflector:
    """Several reflectors on the same trajectory, their items concatenated."""

    def __init__(self, reflectors: Sequence[Reflector]) -> None:
        self.reflectors = list(reflectors)

    def reflect(self, trajectory: Trajectory, *, known: Sequence[Experience] = ()) -> list[Experience]:
        return [item for r in self.reflectors for item in r.reflect(trajectory, known=known)]
