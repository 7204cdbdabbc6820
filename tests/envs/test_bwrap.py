"""The bubblewrap backend's warm server, its cleanup, and (as root) its cgroup and disk quota."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentevo.envs.sandbox import Limits, cgroup
from agentevo.envs.sandbox.bwrap import PREFIX, BwrapSandbox, reap
from agentevo.envs.sandbox.check import processes_with
from tests.envs.conftest import needs_bwrap

pytestmark = needs_bwrap
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups and the tmpfs quota need root")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox():
    sb = BwrapSandbox(Limits(timeout_s=3, memory_mb=256, disk_mb=32, pids=32))
    yield sb
    sb.close()


def test_background_processes_live_between_commands_and_die_at_close(sandbox):
    marker = f"agentevo-test-bg-{os.getpid()}"
    assert sandbox.exec(f"setsid -f python3 -c 'import time; time.sleep(60)' {marker} >/dev/null 2>&1").ok
    assert marker in sandbox.exec("ps -eo args").stdout
    assert processes_with(marker)
    sandbox.close()
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []


def test_a_killed_server_is_restarted_and_the_files_stay(sandbox):
    sandbox.write_file("keep.txt", "kept")
    sandbox.exec("kill -9 -1")
    again = sandbox.exec("cat keep.txt")
    assert again.ok and again.stdout == "kept"
    assert "restarted" in again.stderr


def test_a_stopped_server_cannot_hang_the_host(sandbox):
    started = time.monotonic()
    result = sandbox.exec("kill -STOP $PPID; sleep 30", timeout_s=1)
    assert result.timed_out and time.monotonic() - started < 1 + 5
    assert sandbox.exec("echo fine").stdout == "fine\n"


def test_the_cold_path_runs_one_bwrap_per_command():
    sb = BwrapSandbox(Limits(timeout_s=3), warm=False)
    try:
        sb.exec("echo hi > f.txt")
        assert sb.exec("cat f.txt").stdout == "hi\n"
        assert sb.proc is None
    finally:
        sb.close()


def test_commands_cannot_forge_the_servers_replies(sandbox):
    forge = (
        "import glob\nfor fd in glob.glob('/proc/[0-9]*/fd/*'):\n    try:\n"
        "        open(fd, 'w').write('{\"id\": \"x\", \"rc\": 0}\\n')\n        print('wrote', fd)\n"
        "    except OSError:\n        pass\n"
    )
    forged = sandbox.exec(["python3", "-c", forge])
    assert "wrote /proc/2/" not in forged.stdout and "wrote /proc/1/" not in forged.stdout
    after = sandbox.exec("echo real")
    assert after.stdout == "real\n" and "restarted" not in after.stderr


@ROOT
def test_memory_is_bounded_for_all_processes_together(sandbox):
    # 4 processes of 100 MB each fit their own rlimit but not the sandbox's 256 + 32 MB together; the
    # kernel's OOM killer picks its victims (one may already have printed), so the test reads the group
    code = (
        "import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n"
        "        x = b'1' * (100 * 2**20)\n        time.sleep(3)\n        os._exit(0)\n"
        "for _ in range(4):\n    os.wait()\n"
    )
    sandbox.exec(["python3", "-c", code], timeout_s=8)
    memory = sandbox.group.dirs[0]
    peak = int((memory / "memory.max_usage_in_bytes").read_text())
    assert peak <= (256 + 32) * 2**20 < 4 * 100 * 2**20
    assert sandbox.group.oom_kills() >= 1


@ROOT
def test_the_workspace_has_a_disk_quota(sandbox):
    result = sandbox.exec("for i in $(seq 100); do head -c 1048576 /dev/zero > f$i || break; done; du -sm .")
    assert int(result.stdout.split()[-2]) <= 32


@ROOT
def test_a_crashed_owner_leaves_no_process_and_its_leftovers_are_reaped():
    """The owner dies without closing: its sandbox's processes die with it; folder and cgroup are reaped."""
    marker = f"agentevo-test-crash-{os.getpid()}"
    code = (
        "import os\nfrom agentevo.envs.sandbox.bwrap import BwrapSandbox\nsb = BwrapSandbox()\n"
        f"sb.exec(\"setsid -f python3 -c 'import time; time.sleep(600)' {marker} >/dev/null 2>&1\")\n"
        f"assert '{marker}' in sb.exec('ps -eo args').stdout\n"
        "print(sb.root, sb.group.name if sb.group else '', flush=True)\nos._exit(0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    folder, group = [*out.stdout.split(), ""][:2]
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []
    assert Path(folder).name.startswith(PREFIX) and Path(folder).exists()
    removed = reap()
    assert folder in removed and not Path(folder).exists()
    if group:
        assert not (cgroup.ROOT / "pids" / cgroup.PARENT / group).exists()
