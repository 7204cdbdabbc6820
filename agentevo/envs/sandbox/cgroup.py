"""Per-sandbox cgroups (v1: memory, pids, cpu) for the bubblewrap backend, when agentevo runs as root.

rlimits bound one process; a cgroup bounds the whole sandbox: memory of all its processes together (and
the tmpfs it writes, which the kernel charges to the writer's cgroup), the number of tasks, and CPU share.
The sandbox's uid may write only `cgroup.procs` of its own groups, so the unprivileged wrapper that starts
bwrap moves itself in (`join_script`) before anything else runs; nothing inside bwrap can see /sys.

Groups live under /sys/fs/cgroup/<controller>/agentevo/<owner>-<n>; `reap` removes those of dead owners.
"""

from __future__ import annotations

import itertools
import logging
import os
import shlex
import signal
import time
from pathlib import Path

from agentevo.envs.sandbox.base import Limits
from agentevo.envs.sandbox.owner import alive, owner_tag

log = logging.getLogger(__name__)

ROOT = Path(os.environ.get("AGENTEVO_CGROUP_ROOT", "/sys/fs/cgroup"))
CONTROLLERS = ("memory", "pids", "cpu")
PARENT = "agentevo"
_names = itertools.count()


def usable() -> bool:
    if os.geteuid() != 0:
        return False
    return all((ROOT / c / "cgroup.procs").exists() and os.access(ROOT / c, os.W_OK) for c in CONTROLLERS)


class Cgroup:
    """One sandbox's groups, one per controller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dirs = [ROOT / c / PARENT / name for c in CONTROLLERS]

    @classmethod
    def create(cls, limits: Limits, uid: int) -> Cgroup:
        group = cls(f"{owner_tag()}-{next(_names)}")
        mb = 2**20
        try:
            for d in group.dirs:
                d.mkdir(parents=True, exist_ok=True)
                os.chown(d / "cgroup.procs", uid, uid)
            memory, pids, cpu = group.dirs
            limit = (limits.memory_mb + limits.disk_mb) * mb
            (memory / "memory.limit_in_bytes").write_text(str(limit))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                (memory / "memory.memsw.limit_in_bytes").write_text(str(limit))
            (pids / "pids.max").write_text(str(limits.pids + 4))  # + bwrap's init, the server, a shell
            (cpu / "cpu.cfs_period_us").write_text("100000")
            (cpu / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpus * 100000))))
        except OSError:
            group.remove()
            raise
        return group

    def join_script(self) -> str:
        """Shell that moves itself into every group, then runs "$@"."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))}" for d in self.dirs)
        return f'{joins} && exec "$@"'

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for d in self.dirs:
            try:
                pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(pids)

    def oom_kills(self) -> int:
        try:
            for line in (self.dirs[0] / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self, wait_s: float = 5.0) -> list[int]:
        """SIGKILL every process in the groups until none is left; the pids that were there."""
        seen: list[int] = []
        deadline = time.monotonic() + wait_s
        while (pids := self.procs()) and time.monotonic() < deadline:
            for pid in pids:
                if pid not in seen:
                    seen.append(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            time.sleep(0.01)
        return seen

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # tasks still exiting
                    time.sleep(0.02)


def reap() -> list[str]:
    """Remove the groups whose owning process is gone, killing what is left in them."""
    removed = []
    names = set()
    for c in CONTROLLERS:
        parent = ROOT / c / PARENT
        if parent.is_dir():
            names.update(d.name for d in parent.iterdir() if d.is_dir())
    for name in sorted(names):
        owner = name.rpartition("-")[0]
        if owner and not alive(owner):
            Cgroup(name).remove()
            removed.append(name)
    if removed:
        log.info("removed %d cgroup(s) of crashed sandboxes", len(removed))
    return removed
