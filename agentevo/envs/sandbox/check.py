"""`agentevo sandbox check`: every attack of `attacks.py` against a backend, each in a fresh sandbox, and a
report per case: contained or escaped, with evidence.

The check plants what an escape would reach, and watches for it: canary files outside the workspace (in a
folder under /tmp and in the host's home), a canary environment variable, a host process with a marker on
its command line, TCP and UDP listeners on every host address that count what reaches them. It verifies
itself that every bomb stopped within the command timeout + 5 s, that the harness's memory did not grow by
more than 50 MB during an output flood, and that after each backend's run no process of its sandboxes
(uid, cgroup, container) is left on the host.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentevo.envs.sandbox.attacks import Case, Verdict, cases
from agentevo.envs.sandbox.base import Limits
from agentevo.errors import AgentevoError
from agentevo.protocols import Sandbox
from agentevo.records import ExecResult

CHECK_LIMITS = Limits(
    timeout_s=3.0, memory_mb=256, cpu_s=10, pids=64, file_size_mb=32, output_bytes=65536, disk_mb=64, cpus=1.0
)
FLOOD_RSS_MB = 50
CANARY_ENV = "AGENTEVO_CANARY_SECRET"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def host_ips() -> list[str]:
    ips: set[str] = set()
    if shutil.which("ip"):
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False)
        ips.update(m.group(1) for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)", out.stdout))
    try:
        ips.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return sorted(ip for ip in ips if not ip.startswith("127."))


def processes_with(needle: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if needle.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return [p for p in found if p != os.getpid()]


def processes_of_uids(uids: set[int]) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid in uids:
                found.append(int(pid))
        except OSError:
            continue
    return found


class Listener:
    """TCP and UDP sockets on every host address that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen(64)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", 0))
        self.port, self.udp_port = self.tcp.getsockname()[1], self.udp.getsockname()[1]
        self.hits = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.1)
            for sock in ready:
                if sock is self.tcp:
                    conn, _ = self.tcp.accept()
                    conn.close()
                else:
                    self.udp.recv(2048)
                self.hits += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.tcp.close()
        self.udp.close()


class Context:
    """What the attacks are aimed at, planted for one check run and removed afterwards."""

    def __init__(self, limits: Limits = CHECK_LIMITS) -> None:
        self.limits = limits
        self.token = secrets.token_hex(6)
        self.canary = f"CANARY-FILE-{secrets.token_hex(12)}"
        self.env_canary = f"CANARY-ENV-{secrets.token_hex(12)}"
        self.marker_canary = f"agentevo-host-marker-{secrets.token_hex(8)}"
        self.canary_dir = Path(tempfile.mkdtemp(prefix="agentevo-canary-"))
        self.canary_file = self.canary_dir / "secret.txt"
        self.canary_file.write_text(self.canary + "\n")
        self.home_canary = Path.home() / f".agentevo-canary-{self.token}"
        self.home_canary.write_text(self.canary + "\n")
        self.home_canary.chmod(0o600)
        self.canary_digest = self.digest()
        self.previous_env = os.environ.get(CANARY_ENV)
        os.environ[CANARY_ENV] = self.env_canary
        self.listener = Listener()
        self.hits_before = 0
        self.marker = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(86400)", self.marker_canary],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.ips = host_ips()
        self.escape = f"agentevo-escape-{self.token}"
        self.orphan = f"agentevo-orphan-{self.token}"
        home = str(Path.home())
        self.outside = [f"{d}/{self.escape}" for d in ("/etc", "/usr", "", "/var/tmp", "/tmp", home)]
        self.outside.append(f"{self.canary_dir}/{self.escape}")

    # --- what scripts see ---------------------------------------------------------------------------
    @property
    def command_timeout(self) -> float:
        return self.limits.timeout_s

    @property
    def memory_cap_mb(self) -> float:
        """What a sandbox may hold at most: processes + tmpfs share one cgroup limit."""
        return self.limits.memory_mb + self.limits.disk_mb + 16

    @property
    def disk_cap_mb(self) -> float:
        return self.limits.disk_mb + 2

    @property
    def shm_cap_mb(self) -> float:
        return min(self.limits.disk_mb, 64) + 2

    @property
    def inode_cap(self) -> int:
        return self.limits.disk_mb * 256 + 16

    @property
    def cpu_share(self) -> float:
        return self.limits.cpus

    def values(self) -> dict[str, str]:
        lim = self.limits
        return {
            "token": self.token,
            "canary_file": str(self.canary_file),
            "canary_dir": str(self.canary_dir),
            "home_canary": str(self.home_canary),
            "port": str(self.listener.port),
            "udp_port": str(self.listener.udp_port),
            "host_ips": " ".join(self.ips),
            "host_pid": str(self.marker.pid),
            "marker_tail": self.marker_canary.removeprefix("agentevo-host-marker-"),
            "orphan": self.orphan,
            "memory_bomb_mb": str(10 * lim.memory_mb),
            "per_process_mb": str(int(0.9 * lim.memory_mb)),
            "disk_bomb_mb": str(4 * lim.disk_mb),
            "inode_bomb": str(4 * self.inode_cap),
            "file_size_mb": str(lim.file_size_mb),
            "outside_paths": " ".join(self.outside),
            "escape_name": self.escape,
        }

    def fill(self, script: str) -> str:
        values = self.values()
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], script)

    # --- what judges ask ----------------------------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        shadow = ""
        try:
            shadow = Path("/etc/shadow").read_text().splitlines()[0]
        except (OSError, IndexError):
            pass
        found = {
            "canary file": self.canary,
            "canary env var": self.env_canary,
            "host marker": self.marker_canary,
        }
        if shadow and len(shadow) > 12:
            found["host /etc/shadow"] = shadow
        return found

    def listener_hits(self) -> int:
        time.sleep(0.2)  # let a connection that got through be accepted
        return self.listener.hits - self.hits_before

    def reset_listener(self) -> None:
        self.hits_before = self.listener.hits

    def host_marker_alive(self) -> bool:
        return self.marker.poll() is None

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.canary_dir.iterdir()):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        return h.hexdigest()

    def outside_untouched(self, result: ExecResult) -> Verdict:
        written = [p for p in [*self.outside, f"/{self.escape}", f"/tmp/{self.escape}"] if os.path.lexists(p)]
        changed = not self.canary_file.exists() or self.digest() != self.canary_digest
        if written or changed:
            return False, f"host changed: {', '.join(written) or 'canary folder modified'}"
        errors = [line for line in result.output.splitlines() if line and line != "tried"]
        return True, f"host files unchanged; {' | '.join(errors[:2])[:200]}"

    def close(self) -> None:
        self.listener.close()
        if self.marker.poll() is None:
            self.marker.kill()
        self.marker.wait()
        shutil.rmtree(self.canary_dir, ignore_errors=True)
        self.home_canary.unlink(missing_ok=True)
        for path in self.outside:
            if os.path.isfile(path) and self.escape in path:
                os.unlink(path)
        if self.previous_env is None:
            os.environ.pop(CANARY_ENV, None)
        else:
            os.environ[CANARY_ENV] = self.previous_env


# --- running ----------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    id: str
    group: str
    title: str
    contained: bool
    evidence: str
    seconds: float
    bomb: bool
    within_limit: bool
    error: str = ""

    @property
    def status(self) -> str:
        return "error" if self.error else ("contained" if self.contained else "escaped")


@dataclass
class BackendReport:
    backend: str
    cases: list[CaseResult] = field(default_factory=list)
    leftover_processes: list[int] = field(default_factory=list)
    leftover_containers: list[str] = field(default_factory=list)
    leftover_folders: list[str] = field(default_factory=list)
    host_processes_before: int = 0
    host_processes_after: int = 0
    seconds: float = 0.0

    @property
    def escaped(self) -> int:
        return sum(c.status == "escaped" for c in self.cases)

    @property
    def errors(self) -> int:
        return sum(c.status == "error" for c in self.cases)

    @property
    def bombs_in_time(self) -> bool:
        return all(c.within_limit for c in self.cases if c.bomb)

    @property
    def ok(self) -> bool:
        clean = not (self.leftover_processes or self.leftover_containers or self.leftover_folders)
        return self.escaped == 0 and self.errors == 0 and self.bombs_in_time and clean

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "ok": self.ok,
            "cases": len(self.cases),
            "contained": sum(c.status == "contained" for c in self.cases),
            "escaped": self.escaped,
            "errors": self.errors,
            "bombs_stopped_within_limit": self.bombs_in_time,
            "leftover_processes": self.leftover_processes,
            "leftover_containers": self.leftover_containers,
            "leftover_folders": self.leftover_folders,
            "host_processes_before": self.host_processes_before,
            "host_processes_after": self.host_processes_after,
            "seconds": round(self.seconds, 1),
            "results": [
                {**asdict(c), "status": c.status, "seconds": round(c.seconds, 2)} for c in self.cases
            ],
        }


SandboxFactory = Callable[[], Sandbox]

# Against `local` (no isolation) only cases that look rather than harm run: they show what leaks, while the
# bombs and writes would hit the host itself.
HARMLESS = {"network", "secrets"}
HARMLESS_IDS = {"see-host-processes", "interfaces", "setuid-binaries", "capabilities", "run-as-root"}


def harmless(all_cases: Sequence[Case]) -> list[Case]:
    return [c for c in all_cases if c.group in HARMLESS or c.id in HARMLESS_IDS]


def argv(case: Case, ctx: Context) -> list[str]:
    script = ctx.fill(case.script)
    return ["python3", "-c", script] if case.python else ["/bin/sh", "-c", script]


class Tracker:
    """Remembers what each sandbox of a backend was (bwrap uid and folder, container id) to look for
    leftovers; a container's processes are found by the container id in their cgroup."""

    def __init__(self) -> None:
        self.uids: set[int] = set()
        self.containers: list[str] = []
        self.folders: list[Path] = []

    def note(self, sandbox: Sandbox) -> None:
        uid = getattr(sandbox, "uid", None)  # bwrap's per-sandbox uid (docker's is shared by every sandbox)
        if isinstance(uid, int):
            self.uids.add(uid)
        cid = getattr(sandbox, "id", "")
        if cid:
            self.containers.append(cid)
        root = getattr(sandbox, "root", None)
        if isinstance(root, Path):
            self.folders.append(root)


def run_case(case: Case, factory: SandboxFactory, ctx: Context, tracker: Tracker) -> CaseResult:
    timeout = case.timeout_s or ctx.command_timeout
    ctx.reset_listener()
    neighbour = start_neighbour(factory, ctx, tracker) if case.extra.get("neighbour") else None
    started = time.monotonic()
    rss_before = rss_mb()
    sandbox = factory()
    tracker.note(sandbox)
    try:
        result = sandbox.exec(argv(case, ctx), timeout_s=timeout)
        elapsed = time.monotonic() - started
        contained, evidence = case.judge(result, ctx)
        if case.extra.get("collect"):
            contained, evidence = collect(sandbox, case.extra["collect"], ctx)
        if case.id == "kill-the-parent":
            probe = sandbox.exec("echo alive", timeout_s=timeout)
            evidence += f"; sandbox afterwards: {probe.stdout.strip() or probe.stderr.strip()[:80]}"
    except AgentevoError as exc:
        seconds = time.monotonic() - started
        return CaseResult(case.id, case.group, case.title, False, "", seconds, case.bomb, True, str(exc))
    finally:
        sandbox.close()
        if neighbour is not None:
            neighbour.close()
    grew = rss_mb() - rss_before
    if grew > FLOOD_RSS_MB:
        contained, evidence = False, f"the harness's memory grew by {grew:.0f} MB; {evidence}"
    if case.extra.get("orphans"):
        contained, evidence = no_orphans(ctx)
    within = elapsed <= timeout + 5
    if not within:
        contained, evidence = False, f"took {elapsed:.1f} s (limit {timeout:g} + 5 s); {evidence}"
    return CaseResult(case.id, case.group, case.title, contained, evidence, elapsed, case.bomb, within)


def start_neighbour(factory: SandboxFactory, ctx: Context, tracker: Tracker) -> Sandbox:
    """Another sandbox, alive during the case, with a marked process and a marked file."""
    sandbox = factory()
    tracker.note(sandbox)
    marker = f"agentevo-xsb-{ctx.token}"
    sandbox.exec(
        f"touch /work/{marker} /tmp/{marker}; setsid -f python3 -c 'import time; time.sleep(600)' {marker} "
        ">/dev/null 2>&1 </dev/null"
    )
    return sandbox


def collect(sandbox: Sandbox, names: Sequence[str], ctx: Context) -> Verdict:
    """The host reads back what the sandbox planted; it must never get a host file through a link."""
    passwd = Path("/etc/passwd").read_bytes()
    notes = []
    for name in names:
        try:
            data = sandbox.read_file(name)
        except AgentevoError as exc:
            notes.append(f"{name}: refused ({str(exc)[:60]})")
            continue
        if ctx.canary.encode() in data or data == passwd:
            return False, f"read_file({name!r}) returned a host file"
        notes.append(f"{name}: {len(data)} bytes of the sandbox's own")
    return True, "; ".join(notes)


def no_orphans(ctx: Context, wait_s: float = 5.0) -> Verdict:
    deadline = time.monotonic() + wait_s
    while (left := processes_with(ctx.orphan)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        return False, f"{len(left)} process(es) outlived the sandbox: pids {left[:5]}"
    return True, "nothing outlived the sandbox"


def leftovers(tracker: Tracker, ctx: Context, wait_s: float = 5.0) -> tuple[list[int], list[str], list[str]]:
    deadline = time.monotonic() + wait_s
    while True:
        procs = set(processes_of_uids(tracker.uids)) | set(processes_with(ctx.token))
        procs = sorted(procs | set(processes_in_containers(tracker.containers)))
        containers = live_containers(tracker.containers)
        folders = [str(f) for f in tracker.folders if f.exists()]
        if (not procs and not containers and not folders) or time.monotonic() > deadline:
            return procs, containers, folders
        time.sleep(0.2)


def live_containers(ids: list[str]) -> list[str]:
    if not ids:
        return []
    from agentevo.envs.sandbox.docker import client, sandbox_containers

    c = client()
    try:
        alive = {info["Id"] for info in sandbox_containers(c)}
    finally:
        c.close()
    return [i[:12] for i in ids if i in alive]


def processes_in_containers(ids: list[str]) -> list[int]:
    """Host pids whose cgroup names one of these containers."""
    if not ids:
        return []
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cgroup") as fh:
                groups = fh.read()
        except OSError:
            continue
        if any(cid in groups for cid in ids):
            found.append(int(pid))
    return found


def host_process_count() -> int:
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


def run_backend(
    backend: str,
    factory: SandboxFactory,
    ctx: Context,
    selected: Sequence[Case] | None = None,
    on_case: Callable[[CaseResult], None] = lambda r: None,
) -> BackendReport:
    report = BackendReport(backend, host_processes_before=host_process_count())
    tracker = Tracker()
    started = time.monotonic()
    for case in selected or cases():
        result = run_case(case, factory, ctx, tracker)
        report.cases.append(result)
        on_case(result)
    report.leftover_processes, report.leftover_containers, report.leftover_folders = leftovers(tracker, ctx)
    report.host_processes_after = host_process_count()
    report.seconds = time.monotonic() - started
    return report
