"""The shared vocabulary: frozen, versioned pydantic records that every part of agentevo passes around.

Every record round-trips through JSON unchanged (`R.model_validate_json(r.model_dump_json()) == r`); stores
keep them as JSON documents, so a new optional field never breaks an old store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = str  # an environment kind: "code", "os", "web" or one registered in agentevo.kinds
Outcome = Literal["success", "failure", "limit", "error"]
Message = dict[str, Any]  # a chat message exactly as sent to the model: {"role": ..., "content": ...}

TRAJECTORY_FORMAT = "agentevo-traj/1"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Task(Record):
    """One thing to do: an instruction in an environment of some kind, plus whatever its suite needs."""

    id: str
    suite: str
    kind: Kind
    instruction: str
    template_id: str = ""
    split: str = "test"
    meta: dict[str, Any] = Field(default_factory=dict)


class Action(Record):
    """A parsed action: `name` is the verb of the environment's grammar (or `call` for an archived tool)."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    raw: str = ""
    thought: str = ""


class Observation(Record):
    """What the agent sees after reset or a step. Failures arrive here as `error`, never as exceptions."""

    text: str
    url: str | None = None
    error: str | None = None
    done: bool = False
    reward: float | None = None
    screenshot_path: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class ToolCall(Record):
    """A native function call requested by a model that supports them."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str = ""


class ModelReply(Record):
    text: str
    model: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    cached: bool = False
    finish_reason: str = ""


class ToolSpec(Record):
    """What the model sees of a tool: a name, a description and a JSON schema of its parameters."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Step(Record):
    index: int
    action: Action | None
    observation: Observation
    model_reply: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    retrieved: tuple[str, ...] = ()  # ids of memory items and tools shown to the model for this step
    error: str | None = None  # why no action was taken (unparsable reply, model failure)


class Trajectory(Record):
    id: str
    run_id: str
    task: Task
    steps: tuple[Step, ...] = ()
    messages: tuple[Message, ...] = ()
    outcome: Outcome
    reward: float = 0.0
    judge: str | None = None
    model: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
    format: str = TRAJECTORY_FORMAT

    @property
    def tokens(self) -> int:
        return sum(s.tokens_in + s.tokens_out for s in self.steps)

    @property
    def cost(self) -> float:
        return sum(s.cost for s in self.steps)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


class ExecResult(Record):
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    timed_out: bool = False
    killed: str | None = None  # "timeout" | "memory" | "cpu" | "signal N" when the sandbox ended it
    truncated: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.killed is None

    @property
    def output(self) -> str:
        return self.stdout + (("\n" + self.stderr) if self.stderr else "")


class Scope(Record):
    suite: str = ""
    site: str = ""
    template: str = ""


class Provenance(Record):
    trajectory_ids: tuple[str, ...] = ()
    run_id: str = ""
    model: str = ""
    judge: str = ""
    source: str = ""  # which reflector/synthesiser/user made it


class UsageStats(Record):
    retrieved: int = 0
    helped: int = 0
    hurt: int = 0


class Experience(Record):
    """A typed piece of learned experience kept in the memory store."""

    id: str
    kind: Literal["insight", "workflow", "pitfall", "tool_note"]
    title: str
    description: str = ""
    content: str
    scope: Scope = Field(default_factory=Scope)
    provenance: Provenance = Field(default_factory=Provenance)
    trust: Literal["trusted", "untrusted", "quarantined"] = "trusted"
    stats: UsageStats = Field(default_factory=UsageStats)
    env_fingerprint: str = ""
    version: int = 1
    commit_id: str = ""
    demonstration: tuple[Message, ...] = ()  # user/assistant turns shown to the model, when it has any
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ToolStats(Record):
    calls: int = 0
    ok: int = 0
    failed: int = 0
    p50_ms: float = 0.0


class Tool(Record):
    """A versioned, tested tool kept in the archive; its code runs only in a sandbox or the environment."""

    name: str
    version: int = 1
    description: str
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    kind: Kind
    source: str
    tests: str = ""
    provenance: Provenance = Field(default_factory=Provenance)
    stats: ToolStats = Field(default_factory=ToolStats)
    status: Literal["active", "retired"] = "active"
    created_at: datetime = Field(default_factory=utcnow)
    verified_at: datetime | None = None

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


class RunManifest(Record):
    """Everything needed to say what a run was and to reproduce it."""

    run_id: str
    model: str
    suite: str
    split: str
    config: dict[str, Any] = Field(default_factory=dict)
    config_hash: str = ""
    seeds: tuple[int, ...] = (0,)
    task_ids: tuple[str, ...] = ()
    memory_commit: str | None = None
    archive_state: dict[str, int] = Field(default_factory=dict)
    evaluator: dict[str, Any] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    command: str = ""
    created_at: datetime = Field(default_factory=utcnow)
