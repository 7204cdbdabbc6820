"""The LLM reflector: any agentevo Model reads a trajectory and writes at most a few lessons as strict JSON.

The model is shown the schema by example (a user/assistant demonstration turn, which small models follow
far better than a description of it), then the trajectory. Its reply must be one JSON object
`{"items": [{"kind", "title", "description", "content"}, …]}`; a reply that is not JSON, or not that shape,
is dropped whole; an item that breaks the schema is dropped alone; an empty list is a good answer. Nothing
the model writes is trusted more than its source: items from web pages stay `untrusted`, and the store
screens every item for injected instructions before it is kept.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentevo.errors import ModelError
from agentevo.memory.changes import new_id
from agentevo.memory.reflect import clip, provenance_of, scope_of
from agentevo.memory.trust import source_trust
from agentevo.models.calls import ask
from agentevo.protocols import Model
from agentevo.records import Experience, Message, Trajectory

log = logging.getLogger(__name__)

MAX_ITEMS = 3
STEP_CHARS = 300
TRAJECTORY_CHARS = 5000
SOURCE = "llm-reflector"

SYSTEM = (
    "You review one attempt by an AI agent at a task and write down what is worth remembering for next "
    "time: at most 3 items. Kinds: `insight` (a strategy that worked), `pitfall` (a mistake and how to avoid "
    "it), `workflow` (a reusable sequence of steps; write task-specific values as {placeholders}). Keep "
    "items general: no exact page contents, no secrets. Reply with one JSON object and nothing else: "
    '{"items": [{"kind": ..., "title": ..., "description": ..., "content": ...}]}. '
    "title: at most 10 words; description: one sentence; content: 1 to 3 sentences. "
    'If nothing is worth remembering, reply {"items": []}.'
)

DEMO_USER = """Task (os): Count the lines of /data/log.txt and write the number to /tmp/count.txt
Outcome: success (reward 1.0)
Step 1: cat /data/log.txt | wc -l > /tmp/count.txt
  -> (no output)
Step 2: submit
  -> done"""

DEMO_ASSISTANT = json.dumps(
    {
        "items": [
            {
                "kind": "workflow",
                "title": "Count lines of a file into another file",
                "description": "Write the line count of {input} to {output}.",
                "content": "Run `wc -l < {input} > {output}`, then submit.",
            },
            {
                "kind": "insight",
                "title": "Redirect output straight to the target file",
                "description": "Shell redirection writes results without extra steps.",
                "content": "Compute the value in one pipeline and redirect it into the requested file.",
            },
        ]
    }
)


class ReflectionItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["insight", "pitfall", "workflow"]
    title: str = Field(min_length=3, max_length=120)
    description: str = Field(default="", max_length=400)
    content: str = Field(min_length=3, max_length=1200)


def render(trajectory: Trajectory) -> str:
    """The trajectory as the reflector reads it: task, outcome, and each step's action and result."""
    lines = [
        f"Task ({trajectory.task.kind}): {clip(trajectory.task.instruction, 1200)}",
        f"Outcome: {trajectory.outcome} (reward {trajectory.reward:g})",
    ]
    for s in trajectory.steps:
        action = s.action.raw if s.action is not None and s.action.raw else s.model_reply
        result = s.error or s.observation.error or s.observation.text
        lines.append(f"Step {s.index + 1}: {clip(action, STEP_CHARS)}\n  -> {clip(result, STEP_CHARS)}")
    return clip("\n".join(lines), TRAJECTORY_CHARS)


def messages_for(trajectory: Trajectory) -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": DEMO_USER},
        {"role": "assistant", "content": DEMO_ASSISTANT},
        {"role": "user", "content": render(trajectory)},
    ]


def json_object(text: str) -> object | None:
    """The JSON of a reply: the whole reply (or its ```json block) when that parses, else the outermost
    {…} inside prose; None when there is none. A reply that parses whole is taken as it is, so a list
    holding the right object is off-schema, not rescued."""
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.S)
    whole = fenced.group(1) if fenced else text
    try:
        return json.loads(whole)
    except json.JSONDecodeError:
        pass
    start, end = whole.find("{"), whole.rfind("}")
    if start == -1 or end <= start:
        return None
    try:
        return json.loads(whole[start : end + 1])
    except json.JSONDecodeError:
        return None


def parse_items(text: str) -> list[ReflectionItem]:
    """The schema-valid items of a reply; [] for anything unparsable or off-schema."""
    data = json_object(text)
    if not isinstance(data, dict) or set(data) != {"items"} or not isinstance(data["items"], list):
        return []
    items = []
    for raw in data["items"][:MAX_ITEMS]:
        try:
            items.append(ReflectionItem.model_validate(raw))
        except ValidationError:
            continue
    return items


class LLMReflector:
    """Asks a model for at most three lessons per trajectory, in a strict JSON schema."""

    name = "llm"

    def __init__(self, model: Model, *, max_tokens: int = 512) -> None:
        self.model = model
        self.max_tokens = max_tokens

    def reflect(self, trajectory: Trajectory, *, known: Sequence[Experience] = ()) -> list[Experience]:
        if trajectory.outcome == "error" or not trajectory.steps:
            return []
        from agentevo.constrain import reflection_reply

        try:
            reply = ask(
                self.model,
                messages_for(trajectory),
                max_tokens=self.max_tokens,
                temperature=0.0,
                constraint=reflection_reply(),
            )
        except ModelError as exc:
            log.warning("reflector model failed on %s: %s", trajectory.id, exc)
            return []
        items = parse_items(reply.text)
        if not items and reply.text.strip():
            log.info("reflector reply for %s held no usable items", trajectory.id)
        provenance = provenance_of(trajectory, f"{SOURCE}:{self.model.name}")
        return [
            Experience(
                id=new_id(),
                kind=item.kind,
                title=item.title,
                description=item.description,
                content=item.content,
                scope=scope_of(trajectory),
                provenance=provenance,
                trust=source_trust(trajectory),  # type: ignore[arg-type]
                env_fingerprint=str(trajectory.task.meta.get("env_fingerprint", "")),
            )
            for item in items
        ]
