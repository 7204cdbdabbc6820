"""The docker backend against a real engine: locked-down containers, no orphans, an idempotent image build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentevo.envs.sandbox import Limits, open_sandbox, resolve_backend
from agentevo.envs.sandbox.docker import LABEL, OWNER, DockerSandbox, client, own_containers, reap_orphans
from agentevo.envs.sandbox.image import build_image, load_recipe
from agentevo.errors import SandboxError
from tests.envs.conftest import DOCKER_MARKS

pytestmark = DOCKER_MARKS
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(docker_image):
    sb = DockerSandbox(Limits(timeout_s=3, memory_mb=256, disk_mb=32, pids=32))
    yield sb
    sb.close()


def test_the_container_is_locked_down(sandbox):
    info = sandbox.client.api.inspect_container(sandbox.id)
    host = info["HostConfig"]
    assert info["Config"]["User"] != "" and not info["Config"]["User"].startswith("0")
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"] and host["PidsLimit"] == 32
    assert host["Memory"] == (256 + 32) * 2**20 and host["NanoCpus"] == 10**9
    status = sandbox.exec("id -u; grep -E 'CapEff|NoNewPrivs' /proc/self/status; touch /etc/x").output
    assert "0000000000000000" in status and "NoNewPrivs:\t1" in status and "Read-only" in status
    assert not status.startswith("0\n")


def test_the_workspace_is_a_size_limited_tmpfs_where_scripts_run(sandbox):
    sandbox.write_file("bin/hello.sh", "#!/bin/sh\necho hello from a script\n")
    assert sandbox.exec("chmod +x bin/hello.sh && ./bin/hello.sh").stdout == "hello from a script\n"
    assert sandbox.read_file("bin/hello.sh").startswith(b"#!/bin/sh")
    full = sandbox.exec("head -c 100000000 /dev/zero > big; du -m big")
    assert int(full.stdout.split()[0]) <= 32


def test_background_processes_survive_between_commands(sandbox):
    sandbox.exec("setsid -f sleep 300 >/dev/null 2>&1")
    assert "sleep 300" in sandbox.exec("ps -eo args").stdout


def test_close_removes_the_container(docker_image):
    sb = DockerSandbox(Limits(timeout_s=3))
    cid = sb.id
    sb.close()
    engine = client()
    try:
        assert cid not in {info["Id"] for info in engine.api.containers(all=True)}
    finally:
        engine.close()


def test_a_crashed_owner_leaves_no_container(docker_image):
    """kill -9 of the owning process: the engine closes the container's stdin and it goes away."""
    code = (
        "from agentevo.envs.sandbox.docker import DockerSandbox\nsb = DockerSandbox()\n"
        "print(sb.id, flush=True)\nimport time\ntime.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    cid = proc.stdout.readline().strip()
    assert cid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    engine = client()
    try:
        deadline = time.monotonic() + 20
        while cid in {info["Id"] for info in engine.api.containers(all=True)} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cid not in {info["Id"] for info in engine.api.containers(all=True)}
    finally:
        engine.close()


def test_containers_of_dead_owners_are_reaped(docker_image):
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid whose process has ended
    engine = client()
    try:
        stale = engine.containers.create(
            docker_image, ["sleep", "60"], labels={LABEL: "1", OWNER: f"{os.uname().nodename}:{gone.pid}.1"}
        )
        assert stale.short_id in reap_orphans(engine)
        assert stale.id not in {info["Id"] for info in engine.api.containers(all=True)}
        assert own_containers(engine) == []
    finally:
        engine.close()


def test_building_again_is_a_no_op(docker_image):
    engine = client()
    try:
        again = build_image(engine)
    finally:
        engine.close()
    assert not again.built and again.tag == docker_image == load_recipe().tag


def test_auto_picks_docker_when_the_image_is_built(docker_image):
    assert resolve_backend("auto") == "docker"
    sb = open_sandbox("auto", Limits(timeout_s=3))
    try:
        assert sb.name == "docker"
    finally:
        sb.close()


@pytest.mark.slow
def test_a_failed_build_tags_nothing(tmp_path, monkeypatch, docker_image):
    """A recipe without python3 fails its smoke test after the import: the image is removed, not tagged."""
    recipe_dir = load_recipe().files
    (tmp_path / "setup.sh").write_bytes(recipe_dir["setup.sh"])
    text = recipe_dir["recipe.yaml"].decode().replace("  - python3\n", "")
    (tmp_path / "recipe.yaml").write_text(text)
    monkeypatch.setenv("AGENTEVO_SANDBOX_RECIPE", str(tmp_path))
    broken = load_recipe()
    engine = client()
    try:
        images = {i["Id"] for i in engine.api.images(all=True)}
        containers = {c["Id"] for c in engine.api.containers(all=True)}
        with pytest.raises(SandboxError, match="smoke test"):
            build_image(engine, broken)
        assert {i["Id"] for i in engine.api.images(all=True)} == images  # nothing tagged, nothing dangling
        assert {c["Id"] for c in engine.api.containers(all=True)} == containers
        assert not engine.images.list(name=broken.tag)
    finally:
        engine.close()
