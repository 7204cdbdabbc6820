"""One error tree for agentevo.

    AgentevoError                 anything agentevo reports to a user as one clear line
    ├── ConfigError               a bad run file, flag, workspace or environment variable
    │   ├── SuiteError            an unknown suite, a malformed task file, a missing site URL
    │   └── ModelNotFound         a model string no backend knows
    ├── ModelError                a model could not answer (no key, unreachable, refused, timed out)
    ├── SandboxError              a sandbox could not start or run (carries an ErrorCode)
    ├── EnvError                  an environment could not be set up (browser, site, init script)
    ├── StoreError                the trajectory store could not read or write
    ├── MemoryStoreError          the experience store could not read or write
    ├── ToolRejected              a tool failed the validation gate (carries the reason)
    ├── ExportError               nothing to export, or training data that cannot be written or read
    └── TrainError                a trainer could not run (missing extra, out of memory, unsupported base)

    Interrupt                     not an error: a signal that ends or redirects an episode
    ├── Submitted                 the agent declared it is done
    ├── LimitsExceeded            steps, tokens or wall time ran out
    ├── FormatError               the model's reply could not be parsed (carries feedback for it)
    └── Cancelled                 the run was asked to stop (Ctrl-C); the episode stays resumable

Constructors only store fields; callers decide what to log.
"""

from __future__ import annotations

from enum import StrEnum


class AgentevoError(Exception):
    """Base of every error agentevo reports to a user as one line."""


class ConfigError(AgentevoError):
    pass


class SuiteError(ConfigError):
    pass


class ModelNotFound(ConfigError):
    pass


class ModelError(AgentevoError):
    pass


class ErrorCode(StrEnum):
    UNAVAILABLE = "unavailable"
    START_FAILED = "start_failed"
    IO = "io"
    ESCAPE = "escape"


class SandboxError(AgentevoError):
    def __init__(self, message: str, code: ErrorCode = ErrorCode.START_FAILED) -> None:
        super().__init__(message)
        self.code = code


class EnvError(AgentevoError):
    pass


class StoreError(AgentevoError):
    pass


class MemoryStoreError(AgentevoError):
    pass


class ToolRejected(AgentevoError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"tool {name!r} rejected: {reason}")
        self.name = name
        self.reason = reason


class ExportError(AgentevoError):
    pass


class TrainError(AgentevoError):
    pass


class Interrupt(Exception):
    """Ends or redirects an episode; not a failure of agentevo."""


class Submitted(Interrupt):
    pass


class LimitsExceeded(Interrupt):
    def __init__(self, limit: str) -> None:
        super().__init__(f"limit reached: {limit}")
        self.limit = limit


class FormatError(Interrupt):
    def __init__(self, feedback: str) -> None:
        super().__init__(feedback)
        self.feedback = feedback


class Cancelled(Interrupt):
    pass
