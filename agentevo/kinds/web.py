"""The web kind: pages in a browser; experience from page text is untrusted, and a tool returns steps that
name elements by role and accessible name, each run as one action."""

from __future__ import annotations

from typing import Any

from agentevo.kinds import KindSpec, register_kind
from agentevo.protocols import Environment
from agentevo.records import Trajectory


def compile_web(traj: Trajectory) -> object:
    from agentevo.tools.compile_web import compile_web

    return compile_web(traj)


def perform_steps(value: Any, env: Environment) -> object:
    from agentevo.tools.macros import perform_steps

    return perform_steps(value, env)


WEB = register_kind(KindSpec(name="web", trust="untrusted", compile=compile_web, perform=perform_steps))
