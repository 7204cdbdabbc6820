"""The attack scripts of `agentevo sandbox check`: each tries one way out of a sandbox, or one way to exhaust
the host, and a judge decides from what it printed (and what the host saw) whether it was contained.

Scripts are shell (`sh -c`) or Python (`python3 -c`) with `{{name}}` placeholders filled from the check's
context (canary paths, listener ports, the host marker's pid, …). No script carries a secret value it is
supposed to find: canary values live only in the host file, the host's environment and the host marker's
command line, so a value showing up in a script's output is evidence of an escape.
Outside addresses are documentation ranges (TEST-NET-1/2/3, 2001:db8::/32) that route nowhere: a sandbox
without a network fails them at once with ENETUNREACH, and no packet leaves even if one had a network.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentevo.records import ExecResult

if TYPE_CHECKING:
    from agentevo.envs.sandbox.check import Context

Verdict = tuple[bool, str]  # (contained, evidence)
Judge = Callable[[ExecResult, "Context"], Verdict]


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    title: str
    script: str
    judge: Judge
    python: bool = True
    bomb: bool = False  # a resource bomb: it must stop within the command timeout + 5 s
    timeout_s: float | None = None  # None: the check's command timeout
    extra: dict[str, Any] = field(default_factory=dict)


# --- judges ---------------------------------------------------------------------------------------------


def lines_with(result: ExecResult, prefix: str) -> list[str]:
    return [line[len(prefix) :].strip() for line in result.stdout.splitlines() if line.startswith(prefix)]


def last_number(result: ExecResult, prefix: str) -> int:
    values = [int(v) for v in lines_with(result, prefix) if v.lstrip("-").isdigit()]
    return values[-1] if values else 0


def brief(result: ExecResult) -> str:
    how = "timed out" if result.timed_out else (result.killed or f"exit {result.exit_code}")
    return f"{how} after {result.seconds:.1f} s"


def ended(result: ExecResult, ctx: Context) -> Verdict:
    """A bomb is contained when the sandbox stopped it in time (checked again by the harness)."""
    return result.seconds <= ctx.command_timeout + 5, brief(result)


def at_most(prefix: str, limit: Callable[[Context], float], unit: str) -> Judge:
    def judge(result: ExecResult, ctx: Context) -> Verdict:
        got, cap = last_number(result, prefix), limit(ctx)
        return got <= cap, f"reached {got} {unit} (limit {cap:g}); {brief(result)}"

    return judge


def no_canary(result: ExecResult, ctx: Context) -> Verdict:
    found = [name for name, value in ctx.secrets().items() if value in result.output]
    if found:
        return False, f"read {', '.join(found)}"
    return True, first_lines(result) or "nothing readable"


def all_failed(result: ExecResult, ctx: Context) -> Verdict:
    """Every attempt printed `FAIL …` and none printed `OK …`."""
    ok, failed = lines_with(result, "OK "), lines_with(result, "FAIL ")
    if ok:
        return False, "; ".join(ok)[:300]
    if not failed:
        return False, f"no attempt reported ({first_lines(result)})"
    return True, "; ".join(sorted(set(failed)))[:300]


def first_lines(result: ExecResult, n: int = 3) -> str:
    return " | ".join(result.output.strip().splitlines()[:n])[:300]


def listener_quiet(judge: Judge) -> Judge:
    def both(result: ExecResult, ctx: Context) -> Verdict:
        contained, evidence = judge(result, ctx)
        hits = ctx.listener_hits()
        if hits:
            return False, f"the host listener got {hits} connection(s)/datagram(s); {evidence}"
        return contained, f"host listener: 0 hits; {evidence}"

    return both


def marker_alive(result: ExecResult, ctx: Context) -> Verdict:
    alive = ctx.host_marker_alive()
    return alive, f"host marker process {'still alive' if alive else 'KILLED'}; {first_lines(result)}"


# --- the scripts ----------------------------------------------------------------------------------------


def py(code: str) -> str:
    return textwrap.dedent(code).strip("\n")


# Prints `OK name` when an attempt succeeds and `FAIL name ERRNO` when it is refused.
TRY = py(
    """
    import errno, os, socket, sys
    def attempt(name, fn):
        try:
            fn()
            print("OK", name, flush=True)
        except Exception as exc:
            code = errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)
            print("FAIL", name, code, flush=True)
    """
)


def tries(code: str) -> str:
    return TRY + "\n" + py(code)


# Before anything is sent to an outside address: with any route off the loopback, the case reports an
# escape without sending, so no packet can leave even from a sandbox that has a network.
NO_ROUTE = py(
    """
    def routes():
        found = []
        for name in ("/proc/net/route", "/proc/net/ipv6_route"):
            try:
                lines = open(name).read().splitlines()
            except OSError:
                continue
            rows = lines[1:] if name.endswith("/route") else lines
            found += [r.split()[0] if name.endswith("/route") else r.split()[-1] for r in rows if r.strip()]
        return [dev for dev in found if dev != "lo"]
    if routes():
        print("OK route off the loopback exists (nothing sent):", " ".join(sorted(set(routes()))))
        sys.exit(0)
    """
)


def outside(code: str) -> str:
    return TRY + "\n" + NO_ROUTE + "\n" + py(code)


def filler(path: str) -> str:
    """Write 1 MB files at `path` until refused (or 4x the disk limit), printing the running total."""
    return py(
        f"""
        total = 0
        try:
            while total < {{{{disk_bomb_mb}}}}:
                open(f"{path}", "wb").write(b"x" * 2**20)
                total += 1
                print("WROTE", total, flush=True)
        except OSError as exc:
            print("stopped:", exc)
        """
    )


MB = "MB"

MEMORY = py(
    r"""
    held, total = [], 0
    try:
        while total < {{memory_bomb_mb}}:
            held.append(b"\1" * (16 * 2**20))  # bytes are written, so the pages are resident
            total += 16
            print("HELD", total, flush=True)
    except MemoryError:
        print("MemoryError at", total)
    """
)

MEMORY_MMAP = py(
    """
    import mmap
    held, total = [], 0
    try:
        while total < {{memory_bomb_mb}}:
            m = mmap.mmap(-1, 16 * 2**20)
            for i in range(0, len(m), 4096):
                m[i] = 1
            held.append(m)
            total += 16
            print("HELD", total, flush=True)
    except (OSError, MemoryError) as exc:
        print("failed at", total, exc)
    """
)

# Each child touches up to {{per_process_mb}} MB and reports every 8 MB; after 3 s the parent sums what the
# children still alive hold (a child the kernel killed for memory holds nothing).
MEMORY_PROCESSES = py(
    r"""
    import os, time
    kids = {}
    for _ in range(8):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            held = []
            try:
                while len(held) * 8 < {{per_process_mb}}:
                    held.append(b"\1" * (8 * 2**20))
                    os.write(w, b"8\n")
            except MemoryError:
                pass
            time.sleep(60)
            os._exit(0)
        os.close(w)
        os.set_blocking(r, False)
        kids[pid] = [r, 0]
    deadline = time.time() + 3.0
    while time.time() < deadline:
        for kid in kids.values():
            try:
                kid[1] += 8 * os.read(kid[0], 4096).count(b"\n")
            except BlockingIOError:
                pass
        time.sleep(0.05)
    held = sum(kid[1] for pid, kid in kids.items() if os.waitpid(pid, os.WNOHANG)[0] == 0)
    print("HELD", held, flush=True)
    """
)

FORK_PYTHON = py(
    """
    import os
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
)

THREADS = py(
    """
    import threading, time
    n = 0
    try:
        while n < 100000:
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            n += 1
    except Exception:
        pass
    print("THREADS", n, flush=True)
    """
)

CPU = py(
    """
    import os, time
    start, kids = time.time(), []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            while time.time() - start < 2.0:
                pass
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
    t = os.times()
    print("CPU_MS", int(1000 * (t.children_user + t.children_system)), flush=True)
    """
)

STOP_ALL = py(
    """
    import os, signal
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) not in (os.getpid(), 1):
            try:
                os.kill(int(pid), signal.SIGSTOP)
            except OSError:
                pass
    while True:
        pass
    """
)

INODES = py(
    """
    import os
    os.makedirs("/work/i", exist_ok=True)
    n = 0
    try:
        while n < {{inode_bomb}}:
            open(f"/work/i/{n}", "w").close()
            n += 1
    except OSError as exc:
        print("stopped:", exc)
    print("FILES", n, flush=True)
    """
)

FILE_SIZE = py(
    """
    import os, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    total = 0
    try:
        with open("/work/huge", "wb") as fh:
            while total < 2 * {{file_size_mb}}:
                fh.write(b"x" * 2**20)
                fh.flush()
                total += 1
    except OSError as exc:
        print("stopped:", exc)
    print("SIZE", os.path.getsize("/work/huge") // 2**20, flush=True)
    """
)

ONE_FILE = py(
    """
    total = 0
    try:
        with open("/work/big", "wb") as fh:
            while total < {{disk_bomb_mb}}:
                fh.write(b"x" * 2**20)
                fh.flush()
                total += 1
                print("WROTE", total, flush=True)
    except OSError as exc:
        print("stopped:", exc)
    """
)

ORPHANS = py(
    """
    setsid -f python3 -c 'import time; time.sleep(10**6)' {{orphan}} >/dev/null 2>&1 </dev/null
    nohup python3 -c 'import time; time.sleep(10**6)' {{orphan}} >/dev/null 2>&1 </dev/null &
    python3 -c '
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(10**6)
        os._exit(0)
    ' {{orphan}} >/dev/null 2>&1 </dev/null
    echo started
    """
)

# The marker is searched for in two pieces, so the script's own command line never matches.
HOST_PROCESSES = py(
    """
    import os
    want = "agentevo-host-" + "marker-{{marker_tail}}"
    seen = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        seen += 1
        try:
            if want in open(f"/proc/{pid}/cmdline").read():
                print("FOUND host marker as pid", pid)
        except OSError:
            pass
    print("PROCS", seen)
    """
)

NEIGHBOUR = py(
    """
    import os
    want = "agentevo-" + "xsb-{{token}}"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if want in open(f"/proc/{pid}/cmdline").read():
                found.append(pid)
        except OSError:
            pass
    for root, dirs, files in os.walk("/"):
        if root.startswith(("/proc", "/sys", "/usr")):
            dirs[:] = []
            continue
        found += [os.path.join(root, f) for f in files if want in f]
    print("FOUND" if found else "none", found)
    """
)

PTRACE = tries(
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    def ptrace():
        if libc.ptrace(16, {{host_pid}}, 0, 0) != 0:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), "ptrace")
    attempt("ptrace-attach", ptrace)
    attempt("kill-0", lambda: os.kill({{host_pid}}, 0))
    """
)

UDP = py(
    """
    import socket, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for ip in ["127.0.0.1"] + "{{host_ips}}".split():
        try:
            s.sendto(b"agentevo", (ip, {{udp_port}}))
        except OSError as exc:
            print(ip, exc)
    time.sleep(0.5)
    print("sent")
    """
)

DNS = outside(
    r"""
    def dns():
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(query, ("192.0.2.53", 53))
        s.recv(512)
    attempt("udp 192.0.2.53:53", dns)
    """
)

INTERFACES = py(
    """
    import socket
    print("IFACES", " ".join(name for _, name in socket.if_nameindex()))
    routes = [line for line in open("/proc/net/route").read().splitlines()[1:] if line.strip()]
    print("ROUTES", len(routes))
    """
)

SOCKETS = tries(
    """
    for path in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]:
        def connect(path=path):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            s.connect(path)
        attempt(path, connect)
    """
)

KNOBS = tries(
    """
    def write(path):
        return lambda: open(path, "w").write("1")
    for path in ["/proc/sys/kernel/sysrq", "/proc/sysrq-trigger", "/proc/sys/vm/drop_caches",
                 "/sys/fs/cgroup/memory/release_agent", "/sys/kernel/uevent_helper"]:
        attempt(path, write(path))
    attempt("mkdir cgroup", lambda: os.mkdir("/sys/fs/cgroup/memory/agentevo-x"))
    """
)

DEVICES = tries(
    """
    for dev in ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/mem", "/dev/kmem", "/dev/kvm", "/dev/kmsg",
                "/dev/port"]:
        attempt(dev, lambda dev=dev: open(dev, "rb").read(1))
    """
)

MOUNT = tries(
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    def mount():
        if libc.mount(b"none", b"/work", b"tmpfs", 0, None) != 0:
            raise OSError(ctypes.get_errno(), "mount")
    attempt("mount tmpfs", mount)
    attempt("chroot", lambda: os.chroot("/work"))
    """
)

BECOME_ROOT = tries(
    """
    import subprocess
    attempt("setuid(0)", lambda: os.setuid(0))
    def run(argv):
        def go():
            out = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=5)
            if out.returncode != 0 or b"uid=0" not in out.stdout:
                raise OSError(1, "refused")
        return go
    attempt("su", run(["su", "-c", "id", "root"]))
    attempt("sudo", run(["sudo", "-n", "id"]))
    """
)

USERNS = tries(
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    def unshare():
        if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
            raise OSError(ctypes.get_errno(), "unshare")
    attempt("unshare(CLONE_NEWUSER)", unshare)
    """
)

MODULE = tries(
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    def load():
        if libc.syscall(313, 0, b"", 0) != 0:  # finit_module on x86-64
            raise OSError(ctypes.get_errno(), "finit_module")
    attempt("finit_module", load)
    """
)

TIOCSTI = tries(
    """
    import fcntl, glob, termios
    def push(path=None, fd=None):
        def go():
            f = os.open(path, os.O_RDWR | os.O_NOCTTY) if path else fd
            fcntl.ioctl(f, termios.TIOCSTI, b"#")
        return go
    for fd in (0, 1, 2):
        attempt(f"fd {fd}", push(fd=fd))
    for path in ["/dev/tty", "/dev/console"] + glob.glob("/dev/pts/[0-9]*"):
        attempt(path, push(path=path))
    """
)


def cases() -> list[Case]:
    return RESOURCES + PROCESSES + NETWORK + SECRETS + FILESYSTEM + PRIVILEGE


RESOURCES = [
    Case("fork-bomb-shell", "resources", "shell fork bomb", "b() { b | b & }; b; wait", ended, False, True),
    Case("fork-bomb-python", "resources", "os.fork() in every child", FORK_PYTHON, ended, bomb=True),
    Case(
        "thread-bomb",
        "resources",
        "threads until the pids limit",
        THREADS,
        at_most("THREADS", lambda c: c.limits.pids + 8, "threads"),
        bomb=True,
    ),
    Case(
        "memory-bomb",
        "resources",
        "allocate and touch 10x the memory limit",
        MEMORY,
        at_most("HELD", lambda c: c.memory_cap_mb, MB),
        bomb=True,
    ),
    Case(
        "memory-bomb-mmap",
        "resources",
        "anonymous mmap, every page touched",
        MEMORY_MMAP,
        at_most("HELD", lambda c: c.memory_cap_mb, MB),
        bomb=True,
    ),
    Case(
        "memory-bomb-processes",
        "resources",
        "8 processes, each just under the per-process limit: what they hold at once",
        MEMORY_PROCESSES,
        at_most("HELD", lambda c: c.memory_cap_mb, MB),
        bomb=True,
        timeout_s=6.0,
    ),
    Case(
        "cpu-many-cores",
        "resources",
        "busy loops on 4 processes: CPU beyond the sandbox's share",
        CPU,
        at_most("CPU_MS", lambda c: 2000 * c.cpu_share * 1.6, "ms of CPU in 2 s"),
        bomb=True,
    ),
    Case("infinite-loop", "resources", "busy loop forever", "while :; do :; done", ended, False, True),
    Case("sleep-forever", "resources", "sleep 10^6 s", "sleep 1000000", ended, False, True),
    Case(
        "ignore-sigterm",
        "resources",
        "a child that ignores SIGTERM/SIGINT/SIGHUP",
        "trap '' TERM INT HUP; (trap '' TERM INT HUP; while :; do sleep 1; done) & while :; do sleep 1; done",
        ended,
        False,
        True,
    ),
    Case(
        "stop-the-watchdog",
        "resources",
        "SIGSTOP every other process of the sandbox (timeout wrappers, servers), then loop",
        STOP_ALL,
        ended,
        bomb=True,
    ),
    Case("stdout-flood", "resources", "endless stdout without newlines", "cat /dev/zero", ended, False, True),
    Case(
        "stderr-flood-binary",
        "resources",
        "100 MB of random bytes on stderr",
        "head -c 100000000 /dev/urandom >&2",
        ended,
        False,
        True,
    ),
    Case(
        "disk-fill-file",
        "resources",
        "one ever-growing file in the workspace",
        ONE_FILE,
        at_most("WROTE", lambda c: c.disk_cap_mb, MB),
        bomb=True,
    ),
    Case(
        "disk-fill-many-files",
        "resources",
        "many 1 MB files (each under the file-size limit)",
        filler("/work/f{total}"),
        at_most("WROTE", lambda c: c.disk_cap_mb, MB),
        bomb=True,
    ),
    Case(
        "tmp-fill",
        "resources",
        "fill /tmp",
        filler("/tmp/f{total}"),
        at_most("WROTE", lambda c: c.disk_cap_mb, MB),
        bomb=True,
    ),
    Case(
        "inode-fill",
        "resources",
        "empty files until the inodes run out",
        INODES,
        at_most("FILES", lambda c: c.inode_cap, "files"),
        bomb=True,
    ),
    Case(
        "shm-fill",
        "resources",
        "fill /dev/shm",
        filler("/dev/shm/f{total}"),
        at_most("WROTE", lambda c: c.shm_cap_mb, MB),
        bomb=True,
    ),
    Case(
        "file-size-bomb",
        "resources",
        "one file twice the file-size limit",
        FILE_SIZE,
        at_most("SIZE", lambda c: c.limits.file_size_mb, MB),
        bomb=True,
    ),
]

PROCESSES = [
    Case(
        "orphan-daemon",
        "processes",
        "double-fork daemon, setsid, nohup: anything alive after the sandbox closes",
        ORPHANS,
        lambda r, c: (True, "checked after close"),  # the harness looks for the orphans after close
        python=False,
        extra={"orphans": True},
    ),
    Case(
        "see-host-processes",
        "processes",
        "look for the host's marker process in /proc",
        HOST_PROCESSES,
        lambda r, c: ("FOUND" not in r.stdout, first_lines(r)),
    ),
    Case(
        "kill-the-parent",
        "processes",
        "kill $PPID, pid 1, every process (-1) and the host marker's pid",
        "kill -9 {{host_pid}} 2>&1; kill -9 $PPID 2>&1; kill -9 1 2>&1; kill -9 -1 2>&1; echo done",
        marker_alive,
        python=False,
    ),
    Case("ptrace-host", "processes", "PTRACE_ATTACH to the host marker, signal 0 to it", PTRACE, all_failed),
    Case(
        "other-sandbox",
        "processes",
        "see the files and processes of another sandbox running at the same time",
        NEIGHBOUR,
        lambda r, c: ("FOUND" not in r.stdout, first_lines(r)),
        extra={"neighbour": True},
    ),
]


def unreachable(result: ExecResult, ctx: Context) -> Verdict:
    """Outside addresses must fail at once as unreachable: a timeout could mean a packet left."""
    contained, evidence = all_failed(result, ctx)
    bad = [
        line
        for line in lines_with(result, "FAIL ")
        if "ENETUNREACH" not in line and "EADDRNOTAVAIL" not in line
    ]
    if contained and bad:
        return False, f"failed, but not as unreachable: {'; '.join(bad)}"
    return contained, evidence


NETWORK = [
    Case(
        "tcp-host-loopback",
        "network",
        "TCP to the host's canary listener on 127.0.0.1",
        tries(
            "attempt('tcp 127.0.0.1:{{port}}', lambda: socket.create_connection(('127.0.0.1', {{port}}), 2))"
        ),
        listener_quiet(all_failed),
    ),
    Case(
        "tcp-host-addresses",
        "network",
        "TCP to the canary listener on every address of the host",
        tries(
            """
            for ip in "{{host_ips}}".split():
                attempt(f"tcp {ip}:{{port}}", lambda: socket.create_connection((ip, {{port}}), 2))
            """
        ),
        listener_quiet(all_failed),
    ),
    Case(
        "http-host",
        "network",
        "HTTP GET to the canary listener",
        tries(
            """
            import urllib.request
            attempt("http", lambda: urllib.request.urlopen("http://127.0.0.1:{{port}}/", timeout=2))
            """
        ),
        listener_quiet(all_failed),
    ),
    Case(
        "udp-host",
        "network",
        "UDP datagrams to the host's canary port",
        UDP,
        listener_quiet(lambda r, c: (True, first_lines(r))),
    ),
    Case(
        "tcp-outside",
        "network",
        "TCP to outside addresses (TEST-NET documentation ranges)",
        outside(
            """
            for ip, port in [("192.0.2.1", 443), ("198.51.100.7", 80), ("203.0.113.9", 22)]:
                attempt(f"tcp {ip}:{port}", lambda: socket.create_connection((ip, port), 2))
            """
        ),
        unreachable,
    ),
    Case(
        "tcp-outside-ipv6",
        "network",
        "TCP to an outside IPv6 address (2001:db8::/32)",
        outside(
            "attempt('tcp [2001:db8::1]:443', lambda: socket.create_connection(('2001:db8::1', 443), 2))"
        ),
        unreachable,
    ),
    Case("dns-outside", "network", "a DNS query by UDP to an outside resolver address", DNS, unreachable),
    Case(
        "raw-sockets",
        "network",
        "raw ICMP and packet sockets",
        tries(
            """
            attempt("raw icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
            attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
            """
        ),
        all_failed,
    ),
    Case(
        "interfaces",
        "network",
        "network interfaces and routes visible",
        INTERFACES,
        lambda r, c: (lines_with(r, "IFACES") == ["lo"] and lines_with(r, "ROUTES") == ["0"], first_lines(r)),
    ),
]

SECRETS = [
    Case(
        "canary-file",
        "secrets",
        "read a canary file the check planted outside the workspace",
        "cat {{canary_file}} 2>&1; ls -la {{canary_dir}} 2>&1",
        no_canary,
        python=False,
    ),
    Case(
        "canary-search",
        "secrets",
        "search the whole filesystem for the canary files",
        "find / -xdev -name '*agentevo-canary*' 2>/dev/null | head -n 20 | while read -r f; do "
        'echo "$f"; cat "$f" 2>/dev/null; done; cat /root/.agentevo-canary-* 2>&1',
        no_canary,
        python=False,
    ),
    Case("etc-shadow", "secrets", "read /etc/shadow", "cat /etc/shadow 2>&1", no_canary, python=False),
    Case(
        "host-home",
        "secrets",
        "list and read the host's home (root), where a canary is planted",
        "ls -la /root ~root 2>&1; cat {{home_canary}} 2>&1; ls /home 2>&1",
        no_canary,
        python=False,
    ),
    Case("docker-socket", "secrets", "connect to the Docker and containerd sockets", SOCKETS, all_failed),
    Case(
        "environment",
        "secrets",
        "the host's canary environment variable, in env and /proc/*/environ",
        "env; cat /proc/1/environ 2>&1; "
        "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f 2>/dev/null; done",
        no_canary,
        python=False,
    ),
]

FILESYSTEM = [
    Case(
        "write-outside",
        "filesystem",
        "write files at absolute paths outside the workspace",
        'for p in {{outside_paths}}; do (echo pwned > "$p") 2>&1 | head -n 1; done; echo tried',
        lambda r, c: c.outside_untouched(r),
        python=False,
    ),
    Case(
        "traversal",
        "filesystem",
        "../ traversal out of the workspace",
        "cd /work && (echo pwned > ../../../{{escape_name}}) 2>&1; "
        "(echo pwned > /work/../{{escape_name}}) 2>&1; "
        "(mkdir -p a && echo pwned > a/../../../../tmp/../{{escape_name}}) 2>&1; echo tried",
        lambda r, c: c.outside_untouched(r),
        python=False,
    ),
    Case(
        "overwrite-canary",
        "filesystem",
        "overwrite the canary file outside the workspace",
        "(echo pwned > {{canary_file}}) 2>&1; (rm -f {{canary_file}}) 2>&1; echo tried",
        lambda r, c: c.outside_untouched(r),
        python=False,
    ),
    Case(
        "symlink-collect",
        "filesystem",
        "plant symlinks to host files for the host to read back (read_file)",
        "ln -s {{canary_file}} /work/link-canary; ln -s /etc/passwd /work/link-passwd; "
        "ln -s {{canary_dir}} /work/link-dir; echo planted",
        lambda r, c: (True, "checked by reading back"),
        python=False,
        extra={"collect": ("link-canary", "link-passwd", "link-dir/secret.txt")},
    ),
    Case(
        "hardlink-out",
        "filesystem",
        "hard links from the workspace to files outside it",
        tries(
            """
            attempt("link /usr/bin/env", lambda: os.link("/usr/bin/env", "/work/env-link"))
            attempt("link canary", lambda: os.link("{{canary_file}}", "/work/canary-link"))
            """
        ),
        all_failed,
    ),
    Case("kernel-knobs", "filesystem", "write /proc/sys, sysrq and cgroup release agents", KNOBS, all_failed),
    Case("devices", "filesystem", "open host devices (disks, memory, kvm, kmsg)", DEVICES, all_failed),
    Case("mount", "filesystem", "mount a filesystem, chroot", MOUNT, all_failed),
]

PRIVILEGE = [
    Case(
        "run-as-root",
        "privilege",
        "the sandbox's user id",
        "import os\nprint('UID', os.getuid(), os.geteuid())",
        lambda r, c: (bool(lines_with(r, "UID")) and "UID 0" not in r.stdout, first_lines(r)),
    ),
    Case("become-root", "privilege", "setuid(0), su and sudo", BECOME_ROOT, all_failed),
    Case(
        "setuid-binaries",
        "privilege",
        "setuid programs that could raise privileges (no-new-privileges must be set)",
        "grep NoNewPrivs /proc/self/status; find / -xdev -perm -4000 -type f 2>/dev/null | head -n 20",
        lambda r, c: setuid_judge(r),
        python=False,
    ),
    Case(
        "capabilities",
        "privilege",
        "capability sets of a sandboxed process",
        "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status",
        lambda r, c: (
            all(v == "0000000000000000" for v in r.stdout.split() if len(v) == 16),
            " ".join(r.stdout.split())[:300],
        ),
        python=False,
    ),
    Case("user-namespace", "privilege", "create a user namespace (root inside it)", USERNS, all_failed),
    Case("kernel-module", "privilege", "load a kernel module", MODULE, all_failed),
    Case(
        "tiocsti",
        "privilege",
        "TIOCSTI: push keystrokes into a terminal (stdin, stdout, stderr, /dev/tty, /dev/console, ptys)",
        TIOCSTI,
        all_failed,
    ),
]


def setuid_judge(result: ExecResult) -> Verdict:
    nnp = "NoNewPrivs:\t1" in result.stdout or "NoNewPrivs: 1" in result.stdout
    found = [line for line in result.stdout.splitlines() if line.startswith("/")]
    if nnp or not found:
        return True, f"no-new-privileges {'set' if nnp else 'NOT set'}; setuid programs: {len(found)}"
    return False, f"no-new-privileges not set and setuid programs present: {', '.join(found[:5])}"
