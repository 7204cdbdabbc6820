"""The web kind: pages in a browser; experience from page text is untrusted, a workflow is shown as
demonstration turns (page text quoted) only on instances of its template, and a tool returns steps that
name elements by role and accessible name, each run as one action."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentevo.kinds import KindSpec, register_kind
from agentevo.protocols import Environment
from agentevo.records import Message, Observation, Step, ToolSpec, Trajectory

if TYPE_CHECKING:
    from agentevo.constrain import Constraint


def compile_web(traj: Trajectory) -> object:
    from agentevo.tools.compile_web import compile_web

    return compile_web(traj)


def perform_steps(value: Any, env: Environment) -> object:
    from agentevo.tools.macros import perform_steps

    return perform_steps(value, env)


EXTERNAL = re.compile(r"(?i)\bjavascript:|\b(?:https?|file|ftp)://")


def external_url(text: str) -> tuple[str, str] | None:
    """Web macros stay on the task's site: no absolute or script URLs in their source."""
    if EXTERNAL.search(text) is None:
        return None
    shown = text if len(text) <= 60 else text[:59] + "…"
    return "external-url", f"web macros stay on the task's site: {shown!r}"


def demonstration(trajectory: Trajectory, steps: Sequence[Step]) -> tuple[Message, ...]:
    from agentevo.envs.web.demonstration import demonstration

    return demonstration(trajectory, steps)


def shown_action(step: Step) -> str:
    from agentevo.envs.web.demonstration import shown_action

    return shown_action(step)


def reply_grammar(observation: Observation, tools: Sequence[ToolSpec]) -> Constraint:
    from agentevo.constrain.grammars import web_reply

    return web_reply(observation, tools)


WEB = register_kind(
    KindSpec(
        name="web",
        trust="untrusted",
        shown_action=shown_action,
        demonstration=demonstration,
        quoted_demos=True,
        compile=compile_web,
        perform=perform_steps,
        text_danger=external_url,
        by_role_and_name=True,
        reply_grammar=reply_grammar,
    )
)
