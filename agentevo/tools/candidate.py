"""What a synthesiser (or a user) hands the gate: a draft `Tool`, where it may be used, how to replay it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from agentevo.records import Record, Scope, Task, Tool

Origin = Literal["compiler", "llm", "user"]


class Replay(Record):
    """A harness-owned check: in a freshly reset environment for `task`, calling the tool with `args` (a code
    tool is submitted as the solution instead) must again earn at least `reward`."""

    task: Task
    args: dict[str, Any] = Field(default_factory=dict)
    reward: float = 1.0
    trajectory_id: str = ""
    finish: Literal["", "finish", "answer-output"] = ""
    """How the source episode ended after the tool's work: nothing more (the page or task ended it), the
    `finish` action, or answering with the tool's output."""


@dataclass
class Candidate:
    tool: Tool
    scope: Scope = field(default_factory=Scope)
    replays: list[Replay] = field(default_factory=list)
    origin: Origin = "user"

    @property
    def name(self) -> str:
        return self.tool.name
