"""Sandboxes, for real: docker and bubblewrap (isolated) and local (rlimits only)."""

import socket
import time

import pytest

from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.envs.sandbox.bwrap import available
from agentevo.errors import ConfigError, SandboxError
from tests.envs.conftest import DOCKER_MARKS

BACKENDS = [
    pytest.param("docker", marks=DOCKER_MARKS),
    pytest.param("bwrap", marks=pytest.mark.skipif(not available(), reason="no bwrap")),
    "local",
]


@pytest.fixture(params=BACKENDS)
def sandbox(request):
    if request.param == "docker":
        request.getfixturevalue("docker_image")
    sb = open_sandbox(request.param, Limits(timeout_s=3, pids=32, output_bytes=4096, memory_mb=256))
    yield sb
    sb.close()


def test_runs_commands_and_keeps_files_between_them(sandbox):
    sandbox.write_file("hello.py", "print('hi from', __name__)")
    result = sandbox.exec(["python3", "hello.py"])
    assert result.ok and result.stdout == "hi from __main__\n"
    assert sandbox.exec("echo made > out.txt").ok
    assert sandbox.read_file("out.txt") == b"made\n"


def test_stdin_and_exit_codes(sandbox):
    assert sandbox.exec("cat", stdin=b"piped").stdout == "piped"
    failed = sandbox.exec("echo oops >&2; exit 3")
    assert (failed.exit_code, failed.stderr, failed.ok) == (3, "oops\n", False)


def test_wall_clock_limit_kills_the_command(sandbox):
    started = time.monotonic()
    result = sandbox.exec("sleep 60", timeout_s=1)
    assert result.timed_out and result.killed == "timeout" and not result.ok
    assert time.monotonic() - started < 5


def test_output_is_capped_not_buffered(sandbox):
    result = sandbox.exec("head -c 5000000 /dev/zero | tr '\\0' x")
    assert result.truncated and len(result.stdout) == 4096


def test_memory_limit_holds(sandbox):
    result = sandbox.exec(["python3", "-c", "x = bytearray(1 << 30)"])
    assert not result.ok and "MemoryError" in result.stderr


def test_paths_outside_the_workdir_are_refused(sandbox):
    for bad in ("../escape.txt", "/etc/passwd", "a/../../b"):
        with pytest.raises(SandboxError):
            sandbox.write_file(bad, "x")


def recovers(sb, within_s: float = 10.0) -> bool:
    """Whether a command runs again once the last forks of a bomb have exited (some outlive its parent)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if sb.exec("echo alive").stdout.strip() == "alive":
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not available(), reason="no bwrap")
def test_bwrap_isolates_network_files_and_processes(tmp_path):
    secret = tmp_path / "canary.txt"
    secret.write_text("CANARY-SECRET")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    sb = open_sandbox("bwrap", Limits(timeout_s=5, pids=16))
    try:
        assert "CANARY" not in sb.exec(f"cat {secret}").output
        net = sb.exec(["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"])
        assert not net.ok
        assert sb.exec("id -u").stdout.strip() != "0"
        assert sb.exec("ls /root /home 2>&1; echo $HOME").stdout.strip().endswith("/work")
        bomb = sb.exec(["python3", "-c", "import os\nfor _ in range(200): os.fork()"], timeout_s=5)
        assert "Resource temporarily unavailable" in bomb.stderr or not bomb.ok
        assert recovers(sb), "the sandbox stayed unusable after the fork bomb's processes ended"
    finally:
        sb.close()
        listener.close()


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError):
        open_sandbox("vm")
