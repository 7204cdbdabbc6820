"""The os kind: shell tasks in a sandbox; a tool returns a shell script, run as one `bash` action."""

from __future__ import annotations

from typing import Any

from agentevo.kinds import KindSpec, register_kind
from agentevo.protocols import Environment
from agentevo.records import Trajectory


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


OS = register_kind(KindSpec(name="os", compile=compile_os, perform=perform_script, text_danger=script_danger))
