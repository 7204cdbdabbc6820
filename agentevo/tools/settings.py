"""Settings of the tool archive: the `options` of a run file's `archive` section, validated."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentevo.errors import ConfigError


class ArchiveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sandbox: Literal["auto", "docker", "bwrap", "local"] = "auto"
    """Where tools and their tests run; `local` (no isolation) only when asked for by name."""
    test_timeout_s: float = Field(30.0, gt=0, le=600)
    """Seconds one run of a tool's tests may take."""
    call_timeout_s: float = Field(10.0, gt=0, le=600)
    """Seconds one call of a tool may take."""
    memory_mb: int = Field(512, ge=64)
    """Memory limit of a tool's sandbox."""
    retire_window: int = Field(10, ge=1, le=1000)
    """How many recent calls decide automatic retirement."""
    retire_min_calls: int = Field(4, ge=1)
    """No automatic retirement before this many calls in the window."""
    retire_failure_rate: float = Field(0.5, ge=0.0, le=1.0)
    """A tool failing more than this share of its recent calls is retired."""
    min_score: float = Field(0.0, ge=-1.0, le=1.0)
    """Least description similarity for a tool to be offered."""
    same_suite: bool = True
    """Offer a tool only in the suite it was made from (cross-domain reuse needs re-validation, TL-06)."""
    synthesiser: Literal["compiler", "llm", "both", "off"] = "compiler"
    """What turns a successful episode into a tool: the trajectory compiler, an LLM, both, or nothing."""
    model: str | None = None
    """Model string of the LLM synthesiser (the run's model when unset)."""
    attempts: int = Field(3, ge=1, le=10)
    """Tries of the LLM synthesiser, repairs included."""
    embedder: str = "minilm"
    """Embedder for retrieval: `minilm` or `hash` (deterministic, for tests)."""
    db: str | None = None
    """Registry URL (default: SQLite in the archive folder); a Postgres URL works."""

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ArchiveSettings:
        try:
            return cls.model_validate(options)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(options)"
            raise ConfigError(f"archive.options.{where}: {err['msg']}") from None
