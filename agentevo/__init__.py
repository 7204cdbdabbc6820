"""agentevo: LLM agents that improve themselves from their own experience.

The records and the base error are re-exported here, but loaded on first use (module `__getattr__`): the
records are pydantic models, and `agentevo --help` should not pay for building them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {name: "agentevo.records" for name in __all__ if name not in ("AgentevoError", "__version__")}
_HOME["AgentevoError"] = "agentevo.errors"


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'agentevo' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
