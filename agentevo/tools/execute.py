"""Calling a tool: arguments checked against its schema, the function run in a fresh sandbox, and — for web
and OS tools — the macro it returns carried out by the live environment."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentevo.kinds import kind
from agentevo.protocols import Environment, Sandbox
from agentevo.records import Observation, Step, Tool
from agentevo.tools.sandboxed import CallResult, call_tool

SandboxFactory = Callable[[], Sandbox]
RESULT_CHARS = 4000


@dataclass
class Performance:
    """What one call of a tool did: the observation the model sees, the environment steps it took."""

    observation: Observation
    ok: bool
    error: str = ""
    bad_args: bool = False
    steps: list[Step] = field(default_factory=list)
    ms: float = 0.0


def argument_error(tool: Tool, args: Any) -> str | None:
    """Why `args` does not fit the tool's parameters, or None."""
    from jsonschema import Draft202012Validator

    if not isinstance(args, Mapping):
        return "arguments must be a JSON object"
    errors = sorted(Draft202012Validator(tool.parameters).iter_errors(dict(args)), key=lambda e: e.path)
    if not errors:
        return None
    e = errors[0]
    where = ".".join(str(p) for p in e.path)
    return f"{where + ': ' if where else ''}{e.message}"


class ToolExecutor:
    def __init__(self, sandbox_factory: SandboxFactory, *, timeout_s: float = 10.0) -> None:
        self.sandbox_factory = sandbox_factory
        self.timeout_s = timeout_s

    def evaluate(self, tool: Tool, args: Mapping[str, Any]) -> CallResult:
        """Run the tool's function once, in a sandbox of its own."""
        with contextlib.closing(self.sandbox_factory()) as sandbox:
            return call_tool(
                sandbox, source=tool.source, entry=tool.name, args=args, timeout_s=self.timeout_s
            )

    def perform(self, tool: Tool, args: Any, env: Environment | None = None) -> Performance:
        started = time.perf_counter()
        problem = argument_error(tool, args)
        if problem is not None:
            text = f"bad arguments for {tool.name}: {problem}. Parameters: {json.dumps(tool.parameters)}"
            return Performance(Observation(text="", error=text), ok=False, error=problem, bad_args=True)
        result = self.evaluate(tool, args)
        if not result.ok:
            error = f"tool {tool.name} failed: {result.error}"
            return Performance(Observation(text="", error=error), ok=False, error=result.error, ms=result.ms)
        perform = kind(tool.kind).perform
        if perform is None:  # the tool's value is the answer
            obs = Observation(text=f"{tool.name} returned: {clip(json.dumps(result.value, default=repr))}")
            return Performance(obs, ok=True, ms=ms_since(started))
        if env is None or env.kind != tool.kind:
            error = f"tool {tool.name} acts on a {tool.kind} environment"
            return Performance(Observation(text="", error=error), ok=False, error=error, ms=ms_since(started))
        outcome = perform(result.value, env)
        return Performance(
            outcome.observation, ok=outcome.ok, error=outcome.error, steps=outcome.steps, ms=ms_since(started)
        )


def clip(text: str, n: int = RESULT_CHARS) -> str:
    return text if len(text) <= n else text[:n] + f"… ({len(text) - n} more characters)"


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
