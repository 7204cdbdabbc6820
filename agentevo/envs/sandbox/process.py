"""Run one process with a wall-clock limit and capped output; kill its whole process group on timeout.

Shared by the bwrap and local backends. Output beyond the cap is read and dropped (never buffered), so an
output flood cannot exhaust the host's memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from agentevo.records import ExecResult

SIGNAL_NAMES = {
    signal.SIGXCPU: "cpu",
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segfault",
    signal.SIGXFSZ: "file size",
}


class CappedReader(threading.Thread):
    def __init__(self, stream: object, cap: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.cap = cap
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def run(self) -> None:
        read = self.stream.read1 if hasattr(self.stream, "read1") else self.stream.read  # type: ignore[attr-defined]
        while chunk := read(65536):
            self.total += len(chunk)
            room = self.cap - self.kept
            if room > 0:
                self.chunks.append(chunk[:room])
                self.kept += min(room, len(chunk))

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        return self.total > self.kept


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_capped(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float,
    output_bytes: int,
    stdin: bytes | None = None,
    user: int | None = None,
    group: int | None = None,
) -> ExecResult:
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        user=user,
        group=group,
        extra_groups=[] if group is not None else None,
    )
    out, err = CappedReader(proc.stdout, output_bytes), CappedReader(proc.stderr, output_bytes)
    out.start()
    err.start()
    if stdin is not None:
        threading.Thread(target=feed, args=(proc, stdin), daemon=True).start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    kill_group(proc)  # also reaps children left in the group after a normal exit
    proc.wait()
    for reader in (out, err):
        reader.join(timeout=2.0)
    close_pipes(proc)
    return ExecResult(
        stdout=out.text(),
        stderr=err.text(),
        exit_code=exit_code(proc.returncode, timed_out),
        timed_out=timed_out,
        killed="timeout" if timed_out else killed_by(proc.returncode),
        truncated=out.truncated or err.truncated,
        seconds=time.perf_counter() - started,
    )


def feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def exit_code(returncode: int, timed_out: bool) -> int:
    if timed_out:
        return 137
    if returncode < 0:
        return 128 - returncode
    return returncode


def killed_by(returncode: int) -> str | None:
    """A process ended by a signal (directly, or reported as 128+N by bwrap or a shell)."""
    signo = -returncode if returncode < 0 else (returncode - 128 if 128 < returncode < 160 else 0)
    if not signo:
        return None
    try:
        sig = signal.Signals(signo)
    except ValueError:
        return f"signal {signo}"
    return SIGNAL_NAMES.get(sig, f"signal {sig.name}")
