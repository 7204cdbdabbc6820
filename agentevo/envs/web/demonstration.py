"""A web workflow as demonstration turns: what the agent saw and did in a verified success, written so that
page text reaches the next prompt only as quoted data.

    user turn       the observation the action was chosen on, in the live OBSERVATION format (URL,
                    OBJECTIVE, PREVIOUS ACTION), its page as quoted data: accessibility-tree lines, whose
                    text is an element's quoted name (`[12] button 'Submit'`), and any other page line inside
                    quotes (`text '…'`); at most MAX_ELEMENTS elements (always the one acted on), each line
                    at most LINE_CHARS long; tab titles left out
    assistant turn  one sentence naming the element by role and accessible name, then the agent's own action
                    (`I click the button 'Submit'.` / ```click [12]```)

The demonstration is made from the trajectory alone (no model writes it), and the store screens its text for
injected orders like any experience (agentevo.memory.trust), so an item whose quoted page text gives orders
is quarantined and never shown. Recall shows these turns only on instances of the workflow's own template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agentevo.records import Message, Step, Trajectory

ELEMENT = re.compile(r"^\s*\[(\d+)\]\s+(\S+)")
KEPT_PREFIXES = ("OBSERVATION:", "URL:", "OBJECTIVE:")
DROPPED_PREFIXES = ("Tab ", "PREVIOUS ACTION:", "ERROR:")
MAX_ELEMENTS = 30
LINE_CHARS = 120
NAME_CHARS = 60
VERBS = {"click": "I click", "type": "I type into", "hover": "I hover over"}


def demonstration(trajectory: Trajectory, steps: Sequence[Step]) -> tuple[Message, ...]:
    """User/assistant turns for the kept steps of a successful web episode."""
    before = observations_before(trajectory)
    turns: list[Message] = []
    previous = "None"
    for step in steps:
        if step.action is None:
            continue
        action = step.action.raw.strip().strip("`").strip() or step.action.name
        seen = before.get(step.index) or fallback(trajectory, step)
        turns += [
            {"role": "user", "content": compact(seen, element_id(step), previous)},
            {"role": "assistant", "content": f"{sentence(step)}\n```{action}```"},
        ]
        previous = action
    return tuple(turns)


def observations_before(trajectory: Trajectory) -> dict[int, str]:
    """Step index → the rendered observation the model answered with that step (from the conversation:
    the task message, then the user turn after each reply)."""
    layout: dict[str, Any] = trajectory.details.get("prompt") or {}
    start = layout.get("task_message")
    messages = trajectory.messages
    if not isinstance(start, int) or start >= len(messages):
        return {}
    found = {}
    for n, step in enumerate(trajectory.steps):
        at = start + 2 * n
        if at >= len(messages) or messages[at].get("role") != "user":
            break
        text = str(messages[at].get("content", ""))
        found[step.index] = text[text.find("OBSERVATION:") :] if "OBSERVATION:" in text else text
    return found


def fallback(trajectory: Trajectory, step: Step) -> str:
    """When the conversation is not stored: the observation the step before it returned, else the element
    acted on as the only line of the page."""
    earlier = [s for s in trajectory.steps if s.index < step.index]
    if earlier:
        obs = earlier[-1].observation
        page = obs.text
    else:
        obs, target = step.observation, target_of(step)
        page = f"[{element_id(step)}] {target[0]} '{target[1]}'" if target and element_id(step) else ""
    return f"OBSERVATION:\n{page}\nURL: {obs.url or ''}\nOBJECTIVE: {trajectory.task.instruction}"


def compact(rendered: str, target_id: str | None, previous: str) -> str:
    """The observation in the live format with its page as quoted data: accessibility-tree lines (up to
    MAX_ELEMENTS, the element acted on always), any other page line inside quotes; tab titles and the old
    PREVIOUS ACTION/ERROR lines left out."""
    kept: list[str] = []
    elements = 0
    for raw in rendered.splitlines():
        line = raw.strip()
        match = ELEMENT.match(line)
        if match is not None:
            if match.group(1) == target_id or elements < MAX_ELEMENTS:
                kept.append(clip(raw.rstrip()))
                elements += match.group(1) != target_id
        elif line.startswith(KEPT_PREFIXES):
            kept.append(clip(line))
        elif line and not line.startswith(DROPPED_PREFIXES):
            kept.append(clip("text " + repr(line)))
    kept.append(f"PREVIOUS ACTION: {previous}")
    return "\n".join(kept)


def clip(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def element_id(step: Step) -> str | None:
    value = step.action.args.get("id") if step.action is not None else None
    return str(value) if value is not None else None


def target_of(step: Step) -> tuple[str, str] | None:
    target = step.observation.meta.get("target")
    if not isinstance(target, dict) or not target.get("role"):
        return None
    return str(target["role"]), quoted_name(str(target.get("name", "")))


def quoted_name(name: str) -> str:
    name = " ".join(name.replace("`", "'").split())
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def sentence(step: Step) -> str:
    """The reasoning sentence of the turn: the element by role and accessible name, never by its id."""
    assert step.action is not None
    verb = step.action.name
    target = target_of(step)
    if verb in VERBS and target is not None:
        role, name = target
        return f"{VERBS[verb]} the {role} '{name}'."
    if verb == "stop":
        return "The task is done."
    return f"Next I {verb.replace('_', ' ')}."


def shown_action(step: Step) -> str:
    """A web action as a workflow's step line: the action, and the element it hit by role and name."""
    assert step.action is not None
    action = (step.action.raw or step.model_reply).strip()
    target = target_of(step)
    return f"{action} ({target[0]} '{target[1]}')" if target else action
