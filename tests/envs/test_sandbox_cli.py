"""`agentevo sandbox …` and `agentevo run --suite os` on the command line."""

from __future__ import annotations

import json

import pytest

from tests.envs.conftest import needs_bwrap, needs_docker
from tests.test_cli import one_line_error, run


@needs_bwrap
def test_exec_prints_output_and_how_the_command_ended():
    result = run("sandbox", "exec", "--backend", "bwrap", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3 and result.stdout == "out\n"
    assert "err" in result.stderr and "exit code 3" in result.stderr


@needs_bwrap
def test_exec_json_reports_a_timeout():
    result = run("sandbox", "exec", "--backend", "bwrap", "--timeout", "1", "--json", "--", "sleep 30")
    data = json.loads(result.stdout)
    assert (data["backend"], data["timed_out"], data["killed"], data["exit_code"]) == (
        "bwrap",
        True,
        "timeout",
        137,
    )
    assert result.returncode == 137


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exec", "--backend", "vm", "--", "true"], "unknown sandbox"),
        (["exec", "--timeout", "0", "--", "true"], "--timeout"),
        (["check", "--case", "no-such-attack"], "unknown case"),
        (["check", "--backend", "vm"], "unknown sandbox"),
    ],
)
def test_bad_sandbox_arguments_are_one_clear_line(args, message):
    assert message in one_line_error(run("sandbox", *args))


@needs_bwrap
def test_check_passes_for_bwrap_and_reports_json():
    result = run(
        "sandbox",
        "check",
        "--backend",
        "bwrap",
        "--case",
        "canary-file",
        "--case",
        "tcp-host-loopback",
        "--json",
    )
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["ok"]
    (bwrap,) = data["backends"]
    assert [r["status"] for r in bwrap["results"]] == ["contained", "contained"]


def test_check_exits_non_zero_when_something_escapes():
    result = run("sandbox", "check", "--backend", "local", "--case", "canary-file", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["backends"][0]["escaped"] == 1


def test_status_and_the_os_suite_are_listed():
    status = json.loads(run("sandbox", "status", "--json").stdout)
    assert status["image"].startswith("agentevo-sandbox:") and isinstance(status["bwrap"], bool)
    suites = {s["name"]: s for s in json.loads(run("suites", "--json").stdout)}
    assert suites["os"]["tasks"] >= 40 and suites["os"]["kind"] == "os"


def test_the_os_suite_refuses_the_local_sandbox(workspace):
    result = run(
        "run", "--suite", "os", "--sandbox", "local", "--model", "local/smollm2", "-w", str(workspace)
    )
    assert "isolating sandbox" in one_line_error(result)
    assert list(workspace.iterdir()) == []


@needs_docker
@pytest.mark.usefixtures("docker_image")
def test_build_is_a_no_op_when_the_image_exists():
    result = run("sandbox", "build", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["built"] is False
