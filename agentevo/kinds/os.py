"""The os kind: shell tasks in a sandbox; a tool returns a shell script, run as one `bash` action."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentevo.kinds import KindSpec, register_kind
from agentevo.protocols import Environment
from agentevo.records import Observation, ToolSpec, Trajectory

if TYPE_CHECKING:
    from agentevo.constrain import Constraint


def compile_os(traj: Trajectory) -> object:
    from agentevo.tools.compile_os import compile_os

    return compile_os(traj)


def perform_script(value: Any, env: Environment) -> object:
    from agentevo.tools.macros import perform_script

    return perform_script(value, env)


def script_danger(text: str) -> tuple[str, str] | None:
    from agentevo.tools.rules import shell_danger

    why = shell_danger(text)
    return ("shell-danger", why) if why else None


def reply_grammar(observation: Observation, tools: Sequence[ToolSpec]) -> Constraint:
    from agentevo.constrain.grammars import os_reply

    return os_reply(observation, tools)


OS = register_kind(
    KindSpec(
        name="os",
        compile=compile_os,
        perform=perform_script,
        text_danger=script_danger,
        reply_grammar=reply_grammar,
    )
)
