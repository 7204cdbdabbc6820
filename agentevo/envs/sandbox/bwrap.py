"""The bubblewrap backend: every command in fresh namespaces (no network, own pids, new session).

The host is visible read-only only through /usr (and the few /etc files the dynamic loader needs); the
workdir is a private host folder bound at /work, and /tmp is a folder beside it. Limits are rlimits set by
`prlimit` on the way in. When agentevo runs as root, commands run as a per-sandbox unprivileged uid, because
the kernel ignores RLIMIT_NPROC for root; killing bwrap's process group ends the pid namespace, and with it
every process the command left behind.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from agentevo.envs.sandbox.base import WORKDIR, HostFolder, Limits
from agentevo.envs.sandbox.process import run_capped
from agentevo.errors import ErrorCode, SandboxError
from agentevo.records import ExecResult

UID_BASE = 61000
UID_SPAN = 2000
_uids = itertools.count()
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types")
MERGED = ("bin", "lib", "lib64", "sbin", "lib32", "libx32")


@functools.cache
def bwrap_path() -> str | None:
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = subprocess.run(
        [path, "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, timeout=10, check=False
    )
    return path if probe.returncode == 0 else None


def available() -> bool:
    return bwrap_path() is not None


def next_uid() -> int:
    return UID_BASE + (os.getpid() * 97 + next(_uids)) % UID_SPAN


def root_args() -> list[str]:
    """Bind /usr read-only and recreate the merged-usr links (or bind the real dirs on older systems)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in MERGED:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


class BwrapSandbox(HostFolder):
    name = "bwrap"

    def __init__(self, limits: Limits | None = None) -> None:
        path = bwrap_path()
        if path is None:
            raise SandboxError(
                "bubblewrap is not usable here (apt-get install bubblewrap)", ErrorCode.UNAVAILABLE
            )
        super().__init__("agentevo-bwrap-")
        self.bwrap = path
        self.limits = limits or Limits()
        self.tmp = self.root / "tmp"
        self.tmp.mkdir()
        self.uid = next_uid() if os.geteuid() == 0 else None
        for folder in (self.root, self.work, self.tmp):
            self.owned(folder)

    def owned(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    def argv(self, command: Sequence[str]) -> list[str]:
        args = [self.bwrap, "--unshare-all"]
        if self.limits.network:
            args.append("--share-net")
        args += [
            "--new-session",
            "--die-with-parent",
            "--cap-drop",
            "ALL",
            *root_args(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--bind",
            str(self.work),
            WORKDIR,
            "--bind",
            str(self.tmp),
            "/tmp",
            "--chdir",
            WORKDIR,
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            WORKDIR,
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--setenv",
            "TMPDIR",
            "/tmp",
            "--",
            *command,
        ]
        return args

    def nproc_limit(self) -> int | None:
        # Only meaningful per uid: as root each sandbox has its own uid; otherwise the pid namespace and the
        # wall-clock kill are what bound a fork bomb.
        return self.limits.pids + 4 if self.uid is not None else None

    def exec(
        self, command: str | Sequence[str], *, timeout_s: float | None = None, stdin: bytes | None = None
    ) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed", ErrorCode.UNAVAILABLE)
        inner = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        argv = self.limits.prlimit_args(self.nproc_limit()) + self.argv(inner)
        return run_capped(
            argv,
            env={"PATH": "/usr/bin:/bin"},
            timeout_s=timeout_s or self.limits.timeout_s,
            output_bytes=self.limits.output_bytes,
            stdin=stdin,
            user=self.uid,
            group=self.uid,
        )

    def close(self) -> None:
        self.remove()
