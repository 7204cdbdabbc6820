"""agentevo: LLM agents that improve themselves from their own experience."""

from agentevo.errors import AgentevoError
from agentevo.records import (
    Action,
    ExecResult,
    Experience,
    ModelReply,
    Observation,
    RunManifest,
    Step,
    Task,
    Tool,
    ToolSpec,
    Trajectory,
)

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AgentevoError",
    "ExecResult",
    "Experience",
    "ModelReply",
    "Observation",
    "RunManifest",
    "Step",
    "Task",
    "Tool",
    "ToolSpec",
    "Trajectory",
    "__version__",
]
