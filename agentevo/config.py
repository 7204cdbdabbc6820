"""Run configuration: YAML run files and CLI flags become one validated `RunConfig`; AGENTEVO_* env vars.

A run file has the sections `model`, `environment`, `sandbox`, `limits`, `memory`, `reflector`, `archive`
and `run`. Flags given on the command line override the file. Unknown keys are errors, so a typo never
silently changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentevo.errors import ConfigError
from agentevo.paths import cache_dir as cache_dir  # re-exported: they live in the light agentevo.paths
from agentevo.paths import workspace_dir as workspace_dir


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = "local/smollm2"
    """Model string: `local/smollm2[+adapter:DIR]` or any litellm model (`openai/gpt-4o-mini`, …)."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server (llama.cpp, vLLM, …)."""
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    """0 means greedy decoding."""
    max_tokens: int = Field(384, ge=1, le=32768)
    """Most tokens one reply may have (WebArena's default is 384)."""
    seed: int | None = None
    """Sampling seed; the run's --seed when unset."""
    timeout_s: float = Field(120.0, gt=0)
    """Seconds before a remote call is abandoned (and retried)."""
    retries: int = Field(3, ge=0, le=10)
    """Attempts after the first for rate limits, timeouts and connection errors."""
    cache: bool = False
    """Keep replies in the workspace's response cache, so a rerun replays them exactly."""
    engine: Literal["auto", "llama", "transformers"] = "auto"
    """Engine of a local model: `auto` is llama.cpp when it is installed, else transformers."""
    chat_template: str | None = None
    """Template of a local GGUF without one: chatml, llama3-instruct, mistral-instruct or a Jinja file."""
    constrain: bool | None = None
    """Constrain replies to what the environment accepts now (grammar-constrained decoding); unset: on for
    local models, off for remote ones."""


class SandboxConfig(Section):
    backend: Literal["auto", "docker", "bwrap", "local"] = "auto"
    """`auto` takes docker when an engine answers, else bwrap; `local` runs without isolation."""
    timeout_s: float = Field(10.0, gt=0, le=3600)
    """Wall-clock seconds one command may run before it is killed."""
    memory_mb: int = Field(512, ge=32)
    """Address-space / memory limit of a command."""
    cpu_s: int = Field(30, ge=1)
    """CPU seconds one command may use."""
    pids: int = Field(64, ge=4)
    """Processes and threads one sandbox may hold at once."""
    file_size_mb: int = Field(64, ge=1)
    """Largest file a command may write."""
    output_bytes: int = Field(65536, ge=1024)
    """Bytes of stdout and of stderr kept; the rest is dropped and the result marked truncated."""
    network: bool = False
    """Allow network access (off unless a task needs it)."""
    disk_mb: int = Field(256, ge=8)
    """Size of the writable workspace (and of /tmp) where the backend can bound it (docker; bwrap as root)."""
    cpus: float = Field(1.0, gt=0, le=64)
    """CPU cores one sandbox may use at once (docker; bwrap as root, through a cgroup)."""


class LimitsConfig(Section):
    max_steps: int = Field(5, ge=1, le=500)
    """Steps (model calls) per episode."""
    max_tokens: int = Field(60000, ge=100)
    """Tokens (prompt + completion, summed over steps) per episode."""
    max_seconds: float = Field(600.0, gt=0)
    """Wall-clock seconds per episode."""
    max_repeats: int = Field(3, ge=2)
    """The same action this many times in a row ends the episode."""
    max_format_errors: int = Field(3, ge=1)
    """This many unparsable replies in a row end the episode."""


class EnvironmentConfig(Section):
    suite: str = "humaneval"
    """Suite name (`agentevo suites`)."""
    suite_file: str | None = None
    """A JSON file of the user's own task configs, instead of a named suite."""
    split: str = "test"
    limit: int | None = Field(None, ge=1)
    """Run only the first N tasks of the split (after seeded shuffling when --shuffle)."""
    task_ids: list[str] = Field(default_factory=list)
    """Run only these task ids."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Suite-specific settings (evaluator flavour, judge model, observation budget, …)."""


class MemoryConfig(Section):
    enabled: bool = False
    k: int = Field(3, ge=0, le=50)
    token_budget: int = Field(800, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)


class ReflectorConfig(Section):
    kind: Literal["workflow", "llm", "both"] = "workflow"
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class ArchiveConfig(Section):
    enabled: bool = False
    k: int = Field(3, ge=0, le=20)
    options: dict[str, Any] = Field(default_factory=dict)


class RunSettings(Section):
    concurrency: int = Field(1, ge=1, le=64)
    seed: int = 0
    samples: int = Field(1, ge=1, le=100)
    """Episodes per task (with seeds seed, seed+1, …)."""
    shuffle: bool = False


class RunConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    environment: EnvironmentConfig = Field(default_factory=EnvironmentConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    reflector: ReflectorConfig = Field(default_factory=ReflectorConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    run: RunSettings = Field(default_factory=RunSettings)

    def digest(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def first_error(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return ConfigError(f"{source}: {where}: {err['msg']}")


def load_run_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML run file (safe loader only) and apply dotted overrides like {"model.name": "…"}."""
    data: dict[str, Any] = {}
    source = "flags"
    if path is not None:
        source = str(path)
        data = read_yaml_mapping(Path(path))
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"{source}: {section}: must be a mapping")
        data[section][key] = value
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc, source) from None


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} malformed YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a run file must be a mapping of sections, not {type(data).__name__}")
    return data


# The command-line flags that set a run's config, each naming the one field it sets; `run`, `evolve` and
# `train eval` all go through `run_config`.
RUN_FLAGS = {
    "suite": "environment.suite",
    "suite_file": "environment.suite_file",
    "split": "environment.split",
    "limit": "environment.limit",
    "task_ids": "environment.task_ids",
    "model": "model.name",
    "api_base": "model.api_base",
    "engine": "model.engine",
    "chat_template": "model.chat_template",
    "constrain": "model.constrain",
    "temperature": "model.temperature",
    "max_tokens": "model.max_tokens",
    "cache": "model.cache",
    "max_steps": "limits.max_steps",
    "concurrency": "run.concurrency",
    "seed": "run.seed",
    "samples": "run.samples",
    "sandbox": "sandbox.backend",
    "tools": "archive.enabled",
    "memory": "memory.enabled",
}


def run_config(path: str | Path | None = None, **flags: Any) -> RunConfig:
    """The run file at `path` (or the defaults) with the given flags (RUN_FLAGS; None: the file's value)
    applied; the model samples with the run's seed unless the file names its own."""
    unknown = sorted(set(flags) - RUN_FLAGS.keys())
    if unknown:
        raise TypeError(f"run_config: no flag {unknown[0]!r}")
    cfg = load_run_config(path, {RUN_FLAGS[name]: value for name, value in flags.items()})
    if cfg.model.seed is None:
        cfg.model.seed = cfg.run.seed
    settle_model(cfg.model)
    return cfg


def settle_model(model: ModelConfig) -> None:
    """What `auto` and unset mean here, written into the config so the manifest records the real choice:
    the engine a local model runs in, and whether its replies are constrained (on for local models)."""
    local = model.name.startswith("local/")
    if model.constrain is None:
        model.constrain = local
    if local:
        from agentevo.models.engines import choose

        model.engine = choose(model.engine)  # type: ignore[assignment]
