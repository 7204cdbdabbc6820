"""The bubblewrap backend: fresh namespaces (no network, own pids, new session, no nested user namespaces),
the host visible read-only only through /usr (and the few /etc files the dynamic loader needs), a private
workdir bound at /work and /tmp beside it, the rest of the root read-only.

Warm by default: the sandbox starts one bwrap running a small command server (`server.py`) and every
`exec` is a request to it, so a command costs about what a bare subprocess costs; background processes
live on between commands, as in a terminal, until `close` ends the pid namespace. `warm=False` starts
one bwrap per command instead.

Limits: rlimits through `prlimit` (address space, file size, core, processes per uid; CPU seconds per
command). When agentevo runs as root, commands run as a per-sandbox unprivileged uid (the kernel ignores
RLIMIT_NPROC for root), the workdir and /tmp live on a size-limited tmpfs (disk quota), and a cgroup
bounds memory (processes + tmpfs together), tasks and CPU share of the whole sandbox. Whatever a crashed
process left (folders, mounts, cgroups) is removed by the next process that opens a bwrap sandbox.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
import os
import re
import secrets
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from agentevo.envs.sandbox import cgroup
from agentevo.envs.sandbox.base import WORKDIR, HostFolder, Limits
from agentevo.envs.sandbox.owner import alive, owner_tag
from agentevo.envs.sandbox.process import close_pipes, killed_by, run_capped
from agentevo.errors import ErrorCode, SandboxError
from agentevo.records import ExecResult

log = logging.getLogger(__name__)

UID_BASE = 61000
UID_SPAN = 2000
_uids = itertools.count()
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types")
MERGED = ("bin", "lib", "lib64", "sbin", "lib32", "libx32")
PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("server.py")
PREFIX = "agentevo-bwrap-"
START_TIMEOUT_S = 15.0
KILL_GRACE_S = 2.0  # past a command's timeout, the host stops waiting for the server and restarts it
RESTARTED = "[agentevo: the sandbox's processes had ended, so they were restarted; files in /work are kept]\n"


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


# --- what crashed processes leave behind ----------------------------------------------------------------

_reaped = threading.Event()


def reap_once() -> None:
    if not _reaped.is_set():
        _reaped.set()
        reap()


def reap() -> list[str]:
    """Remove sandbox folders (and their tmpfs) and cgroups whose owning process is gone."""
    removed = cgroup.reap() if cgroup.usable() else []
    pattern = re.compile(rf"^{PREFIX}(\d+\.\d+)-")
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        match = pattern.match(folder.name)
        if match and not alive(match.group(1)):
            unmount(folder)
            if not os.path.ismount(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    return removed


def mount_quota(folder: Path, limits: Limits, uid: int) -> bool:
    """A size- and inode-limited tmpfs over the sandbox's folder (root only; else the disk is unbounded)."""
    opts = f"size={limits.disk_mb}m,nr_inodes={limits.disk_mb * 256},mode=0700,uid={uid},gid={uid}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "agentevo-sandbox", str(folder)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        log.debug("no tmpfs quota for %s: %s", folder, done.stderr.decode(errors="replace").strip())
    return done.returncode == 0


def unmount(folder: Path) -> None:
    if os.path.ismount(folder):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


# --- the sandbox ----------------------------------------------------------------------------------------


class BwrapSandbox(HostFolder):
    name = "bwrap"

    def __init__(self, limits: Limits | None = None, *, warm: bool = True) -> None:
        path = bwrap_path()
        if path is None:
            raise SandboxError(
                "bubblewrap is not usable here (apt-get install bubblewrap)", ErrorCode.UNAVAILABLE
            )
        reap_once()
        super().__init__(f"{PREFIX}{owner_tag()}-")
        self.bwrap = path
        self.limits = limits or Limits()
        self.uid = next_uid() if os.geteuid() == 0 else None
        self.group: cgroup.Cgroup | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffer = bytearray()
        self.lock = threading.Lock()
        self.warm = warm and os.access(PYTHON, os.X_OK)
        try:
            self.prepare()
            if self.warm:
                self.start()
        except BaseException:
            self.close()
            raise

    def prepare(self) -> None:
        self.quota = self.uid is not None and mount_quota(self.root, self.limits, self.uid)
        self.work.mkdir(exist_ok=True)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.etc = self.root / "etc"
        self.etc.mkdir(exist_ok=True)
        uid = self.uid if self.uid is not None else os.geteuid()
        (self.etc / "passwd").write_text(
            f"root:x:0:0::/nonexistent:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}::{WORKDIR}:/bin/bash\n"
        )
        (self.etc / "group").write_text(f"root:x:0:\nsandbox:x:{uid}:\n")
        for folder in (self.root, self.work, self.tmp):
            self.owned(folder)
        if self.uid is not None and cgroup.usable():
            self.group = cgroup.Cgroup.create(self.limits, self.uid)

    def owned(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    def argv(self, command: Sequence[str]) -> list[str]:
        args = [self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
        if self.limits.network:
            args.append("--share-net")
        shm = min(self.limits.disk_mb, 64) * 2**20
        args += [
            "--new-session",
            "--die-with-parent",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            *root_args(),
            "--ro-bind",
            str(self.etc / "passwd"),
            "/etc/passwd",
            "--ro-bind",
            str(self.etc / "group"),
            "/etc/group",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--size",
            str(shm),
            "--tmpfs",
            "/dev/shm",
            "--bind",
            str(self.work),
            WORKDIR,
            "--bind",
            str(self.tmp),
            "/tmp",
            # bwrap's own root and /dev are tmpfs the sandbox uid owns: read-only, or they are unbounded disk
            "--remount-ro",
            "/dev",
            "--remount-ro",
            "/",
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
            "USER",
            "sandbox",
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

    def launcher(self, command: Sequence[str], *, cpu: bool) -> list[str]:
        """cgroup join (as the sandbox uid), then rlimits, then bwrap."""
        lim = self.limits
        limits = [
            "prlimit",
            f"--as={lim.memory_mb * 2**20}",
            f"--fsize={lim.file_size_mb * 2**20}",
            "--core=0",
            *([f"--cpu={lim.cpu_s}"] if cpu else []),  # warm: the server sets it per command
            *([f"--nproc={lim.pids + 4}"] if self.uid is not None else []),
            "--",
        ]
        join = ["/bin/sh", "-c", self.group.join_script(), "sh"] if self.group is not None else []
        return [*join, *limits, *self.argv(command)]

    # --- the warm server ------------------------------------------------------------------------------
    def start(self) -> None:
        code = SERVER.read_text()
        self.buffer.clear()
        self.proc = subprocess.Popen(
            self.launcher([PYTHON, "-I", "-S", "-c", code], cpu=False),
            env={"PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            user=self.uid,
            group=self.uid,
            extra_groups=[] if self.uid is not None else None,
        )
        line = self.read_line(time.monotonic() + START_TIMEOUT_S)
        if line is None or b"ready" not in line:
            detail = self.stop()
            raise SandboxError(f"the bwrap sandbox did not start: {detail or 'no answer'}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> str:
        """Kill the server and with it the pid namespace; what bwrap said on stderr."""
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        said = b""
        if proc.stderr is not None and select.select([proc.stderr], [], [], 0)[0]:
            said = os.read(proc.stderr.fileno(), 4096)
        close_pipes(proc)
        if self.group is not None:
            self.group.kill_all()
        return said.decode(errors="replace").strip()

    def read_line(self, deadline: float) -> bytes | None:
        """One reply line from the server, or None at EOF or at the deadline."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer[:] = rest
        return line

    # --- commands -------------------------------------------------------------------------------------
    def exec(
        self, command: str | Sequence[str], *, timeout_s: float | None = None, stdin: bytes | None = None
    ) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed", ErrorCode.UNAVAILABLE)
        inner = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        timeout = timeout_s or self.limits.timeout_s
        if not self.warm:
            return self.exec_cold(inner, timeout, stdin)
        with self.lock:
            note = ""
            if not self.alive():
                self.stop()
                self.start()
                note = RESTARTED
            result = self.request(inner, timeout, stdin)
        return result.model_copy(update={"stderr": note + result.stderr}) if note else result

    def request(self, argv: list[str], timeout: float, stdin: bytes | None) -> ExecResult:
        assert self.proc is not None and self.proc.stdin is not None
        nonce = secrets.token_hex(8)
        req = {
            "id": nonce,
            "argv": argv,
            "timeout": timeout,
            "cap": self.limits.output_bytes,
            "cpu_s": self.limits.cpu_s,
            "stdin": base64.b64encode(stdin).decode() if stdin is not None else None,
        }
        ooms = self.group.oom_kills() if self.group is not None else 0
        started = time.perf_counter()
        try:
            self.proc.stdin.write(json.dumps(req).encode() + b"\n")
            self.proc.stdin.flush()
            line = self.read_line(time.monotonic() + timeout + KILL_GRACE_S)
        except OSError:
            line = None
        seconds = time.perf_counter() - started
        reply = parse_reply(line, nonce)
        if reply is None:  # the server died (OOM, killed) or hung: the namespace goes, the next exec restarts
            timed_out = self.alive()
            self.stop()
            oom = self.group is not None and self.group.oom_kills() > ooms
            killed = "timeout" if timed_out else ("memory" if oom else "sandbox died")
            return ExecResult(exit_code=137, timed_out=timed_out, killed=killed, seconds=seconds)
        return self.to_result(reply, ooms, seconds)

    def to_result(self, reply: dict, ooms: int, seconds: float) -> ExecResult:
        if "error" in reply:
            return ExecResult(stderr=f"{reply['error']}\n", exit_code=127, seconds=seconds)
        cap = self.limits.output_bytes
        code, sig, timed_out = int(reply["rc"]), int(reply["signal"]), bool(reply["timed_out"])
        killed = "timeout" if timed_out else killed_by(-sig if sig else code)
        if killed == "killed" and self.group is not None and self.group.oom_kills() > ooms:
            killed = "memory"
        return ExecResult(
            stdout=base64.b64decode(reply["out"]).decode("utf-8", errors="replace"),
            stderr=base64.b64decode(reply["err"]).decode("utf-8", errors="replace"),
            exit_code=137 if timed_out else code,
            timed_out=timed_out,
            killed=killed,
            truncated=reply["out_total"] > cap or reply["err_total"] > cap,
            seconds=seconds,
        )

    def exec_cold(self, argv: list[str], timeout: float, stdin: bytes | None) -> ExecResult:
        return run_capped(
            self.launcher(argv, cpu=True),
            env={"PATH": "/usr/bin:/bin"},
            timeout_s=timeout,
            output_bytes=self.limits.output_bytes,
            stdin=stdin,
            user=self.uid,
            group=self.uid,
        )

    def close(self) -> None:
        if self.closed:
            return
        with self.lock:
            self.stop()
            if self.group is not None:
                self.group.remove()
            unmount(self.root)
            self.remove()


def parse_reply(line: bytes | None, nonce: str) -> dict | None:
    """The server's reply for this request, or None (no reply, garbage, or not for this request)."""
    if line is None:
        return None
    try:
        reply = json.loads(line)
    except ValueError:
        return None
    if not isinstance(reply, dict) or reply.get("id") != nonce:
        return None
    return reply
