"""Carrying out what a web or OS tool returns, in the live environment.

An OS tool returns a shell script; it is checked again (the text is only known now, with the arguments in
it) and run as one `bash` action. A web tool returns steps that name elements by role and accessible name;
each becomes one action of the web environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentevo.protocols import Environment
from agentevo.records import Action, Observation, Step
from agentevo.tools.rules import shell_danger


@dataclass
class Outcome:
    observation: Observation
    ok: bool
    error: str = ""
    steps: list[Step] = field(default_factory=list)


def refused(error: str) -> Outcome:
    return Outcome(Observation(text="", error=error), ok=False, error=error)


def perform(kind: str, value: Any, env: Environment) -> Outcome:
    if kind == "os":
        return perform_script(value, env)
    return refused(f"no macro runner for {kind} tools")


def perform_script(script: Any, env: Environment) -> Outcome:
    if not isinstance(script, str) or not script.strip():
        return refused("an OS tool must return a non-empty shell script")
    danger = shell_danger(script)
    if danger:
        return refused(f"refused to run the script: {danger}")
    action = Action(name="bash", args={"command": script}, raw=script)
    obs = env.step(action)
    step = Step(index=0, action=action, observation=obs)
    return Outcome(obs, ok=obs.error is None, error=obs.error or "", steps=[step])
