"""Sandboxes: where model-written code runs. `open_sandbox("auto")` takes docker when an engine answers and
the sandbox image is built (`agentevo sandbox build`), else bubblewrap; `local` (no isolation) only when
asked for by name."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agentevo.config import SandboxConfig
from agentevo.envs.sandbox.base import Limits
from agentevo.errors import ConfigError, ErrorCode, SandboxError
from agentevo.protocols import Sandbox

log = logging.getLogger(__name__)


def _bwrap(limits: Limits) -> Sandbox:
    from agentevo.envs.sandbox.bwrap import BwrapSandbox

    return BwrapSandbox(limits)


def _local(limits: Limits) -> Sandbox:
    from agentevo.envs.sandbox.local import LocalSandbox

    return LocalSandbox(limits)


def _docker(limits: Limits) -> Sandbox:
    try:
        from agentevo.envs.sandbox.docker import DockerSandbox
    except ImportError:
        raise SandboxError("the docker backend is not part of this build", ErrorCode.UNAVAILABLE) from None
    return DockerSandbox(limits)


BACKENDS: dict[str, Callable[[Limits], Sandbox]] = {"docker": _docker, "bwrap": _bwrap, "local": _local}


def backend_available(name: str) -> bool:
    if name == "local":
        return True
    if name == "bwrap":
        from agentevo.envs.sandbox.bwrap import available

        return available()
    if name == "docker":
        try:
            from agentevo.envs.sandbox.docker import available as docker_available
        except ImportError:
            return False
        return docker_available()
    return False


def resolve_backend(name: str) -> str:
    if name == "auto":
        for candidate in ("docker", "bwrap"):
            if backend_available(candidate):
                return candidate
        raise SandboxError(
            "no sandbox is available: install bubblewrap or start a Docker engine "
            "(or pass --sandbox local to run without isolation)",
            ErrorCode.UNAVAILABLE,
        )
    if name not in BACKENDS:
        raise ConfigError(f"unknown sandbox {name!r}: use auto, docker, bwrap or local")
    if not backend_available(name):
        raise SandboxError(f"the {name} sandbox is not available here", ErrorCode.UNAVAILABLE)
    if name == "local":
        log.warning("sandbox 'local' runs model-written code WITHOUT isolation")
    return name


def open_sandbox(backend: str = "auto", limits: Limits | SandboxConfig | None = None) -> Sandbox:
    lim = Limits.from_config(limits) if isinstance(limits, SandboxConfig) else (limits or Limits())
    return BACKENDS[resolve_backend(backend)](lim)


__all__ = ["BACKENDS", "Limits", "backend_available", "open_sandbox", "resolve_backend"]
