"""Environment kinds as plugins: what differs between code, os and web (and any kind a user adds) lives in
one `KindSpec` per kind, and the rest of agentevo asks the registry instead of switching on a kind's name.

    prompts_dir     the kind's own prompt folder (system.md, task.md, demo.md, …); None: agent/prompts/<name>/
    trust           the most that experience learned from its episodes may be trusted with
    workflow_steps  which of a success's steps a workflow keeps; shown_action: how one is shown again
    demonstration   a success's kept steps → the workflow's demonstration turns; None: the instruction, then
                    each action and what it returned (agentevo.memory.reflect)
    quoted_demos    whether its workflows are shown as demonstration turns although untrusted: only on
                    instances of their own template, their page text only quoted (see agentevo.envs.web
                    .demonstration); otherwise untrusted experience is only ever a note
    compile         a successful trajectory → a tool candidate (or NotCompilable); None: no tools from it
    perform         how the value a tool returns acts on the live environment; None: the value is the answer
    replay_action   a tool replayed as one action of its source task (code: submit its source)
    needs_replay    whether a tool of the kind must replay its source episode before it is registered
    tool_args       whether a proposed tool states the arguments of its replay
    text_danger     a string constant in a tool's source the gate refuses, as (rule, why); None if fine
    tools_open_workdir  whether its tools may open relative paths (their sandbox's working directory)
    by_role_and_name    whether its tools must name elements by role and name (no page ids as parameters)
    reply_grammar   the grammar of the next reply (agentevo.constrain.Constraint) from the observation and
                    the tools offered as text; None: its replies are not constrained

Adding a kind is one module that calls `register_kind(KindSpec(...))` (plus its environment and suite):
`tests/test_architecture.py` registers a toy kind from a test module and runs, learns and recalls with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentevo.errors import ConfigError
from agentevo.protocols import Environment
from agentevo.records import Action, Message, Observation, Step, Tool, ToolSpec, Trajectory

BUILT_IN = {"code": "agentevo.kinds.code", "os": "agentevo.kinds.os", "web": "agentevo.kinds.web"}
WORKFLOW_STEPS = 10


def leading_steps(steps: Sequence[Step]) -> list[Step]:
    return list(steps[:WORKFLOW_STEPS])


def raw_action(step: Step) -> str:
    assert step.action is not None
    return (step.action.raw or step.model_reply).strip()


@dataclass(frozen=True)
class KindSpec:
    name: str
    prompts_dir: Path | None = None
    trust: str = "trusted"
    workflow_steps: Callable[[Sequence[Step]], list[Step]] = leading_steps
    shown_action: Callable[[Step], str] = raw_action
    demonstration: Callable[[Trajectory, Sequence[Step]], tuple[Message, ...]] | None = None
    quoted_demos: bool = False
    compile: Callable[[Trajectory], Any] | None = None
    perform: Callable[[Any, Environment], Any] | None = None
    replay_action: Callable[[Tool], Action] | None = None
    needs_replay: bool = True
    tool_args: bool = True
    text_danger: Callable[[str], tuple[str, str] | None] = lambda text: None
    tools_open_workdir: bool = False
    by_role_and_name: bool = False
    reply_grammar: Callable[[Observation, Sequence[ToolSpec]], Any] | None = None  # → Constraint | None


_KINDS: dict[str, KindSpec] = {}


def register_kind(spec: KindSpec) -> KindSpec:
    _KINDS[spec.name] = spec
    return spec


def kind(name: str) -> KindSpec:
    """The spec of a kind; the built-in ones register themselves on first use."""
    if name not in _KINDS and name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])
    if name not in _KINDS:
        raise ConfigError(f"unknown environment kind {name!r}; known: {', '.join(known_kinds())}")
    return _KINDS[name]


def registered(name: str) -> KindSpec | None:
    """The spec of a kind registered so far (built-in kinds not yet used are not loaded)."""
    return _KINDS.get(name)


def known_kinds() -> list[str]:
    return sorted({*BUILT_IN, *_KINDS})


__all__ = ["KindSpec", "kind", "known_kinds", "register_kind", "registered"]
