"""What every sandbox backend that keeps its files in a host folder shares: safe file access and cleanup."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agentevo.config import SandboxConfig
from agentevo.errors import ErrorCode, SandboxError

WORKDIR = "/work"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    cpu_s: int = 30
    pids: int = 64
    file_size_mb: int = 64
    output_bytes: int = 65536
    network: bool = False
    disk_mb: int = 256
    cpus: float = 1.0

    @classmethod
    def from_config(cls, cfg: SandboxConfig) -> Limits:
        return cls(
            timeout_s=cfg.timeout_s,
            memory_mb=cfg.memory_mb,
            cpu_s=cfg.cpu_s,
            pids=cfg.pids,
            file_size_mb=cfg.file_size_mb,
            output_bytes=cfg.output_bytes,
            network=cfg.network,
            disk_mb=cfg.disk_mb,
            cpus=cfg.cpus,
        )

    def prlimit_args(self, nproc: int | None) -> list[str]:
        args = [
            "prlimit",
            f"--as={self.memory_mb * 2**20}",
            f"--cpu={self.cpu_s}",
            f"--fsize={self.file_size_mb * 2**20}",
            "--core=0",
        ]
        if nproc is not None:
            args.append(f"--nproc={nproc}")
        return [*args, "--"]


def inside_workdir(path: str, workdir: str) -> PurePosixPath:
    """A sandbox path (absolute under the workdir, or relative) as a path relative to the workdir."""
    p = PurePosixPath(path)
    if p.is_absolute():
        try:
            p = p.relative_to(workdir)
        except ValueError:
            raise SandboxError(f"{path}: outside the sandbox workdir", ErrorCode.ESCAPE) from None
    if ".." in p.parts:
        raise SandboxError(f"{path}: '..' is not allowed", ErrorCode.ESCAPE)
    if not p.parts:
        raise SandboxError(f"{path}: names the workdir itself, not a file", ErrorCode.IO)
    return p


class HostFolder:
    """The sandbox's working directory lives in a private host folder, removed on close."""

    def __init__(self, prefix: str, *, inside: str | None = WORKDIR) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.work = self.root / "work"
        self.work.mkdir()
        self.workdir = inside or str(self.work)  # the working directory as commands see it
        self.closed = False

    def host_path(self, path: str) -> Path:
        """Map a sandbox path (absolute under /work, or relative) to the host; refuse anything outside."""
        p = inside_workdir(path, self.workdir)
        target = self.work.joinpath(*p.parts)
        for parent in [target, *target.parents]:
            if parent == self.work:
                break
            if parent.is_symlink():
                raise SandboxError(f"{path}: goes through a symlink", ErrorCode.ESCAPE)
        return target

    def write_file(self, path: str, data: bytes | str) -> None:
        target = self.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = data.encode() if isinstance(data, str) else data
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        self.owned(target)

    def read_file(self, path: str) -> bytes:
        target = self.host_path(path)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SandboxError(f"{path}: {exc.strerror}", ErrorCode.IO) from None
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def owned(self, path: Path) -> None:
        """Hook for backends that run commands as another user."""

    def remove(self) -> None:
        if not self.closed:
            self.closed = True
            shutil.rmtree(self.root, ignore_errors=True)
