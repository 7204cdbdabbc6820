"""The command line: bad input gives one clear line, a non-zero exit, and writes nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AGENTEVO = [sys.executable, "-m", "agentevo.cli"]


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*AGENTEVO, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    return lines[0]


def test_version_and_suites():
    assert run("--version").stdout.startswith("agentevo ")
    suites = json.loads(run("suites", "--json").stdout)
    humaneval = next(s for s in suites if s["name"] == "humaneval")
    splits = humaneval["splits"]
    assert humaneval["tasks"] == 164 and sum(splits.values()) == 164
    assert set(splits) == {"train", "validation", "test"} and min(splits.values()) > 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nosuch/model-x"], "unknown model"),
        (["--model", "openai/gpt-4o-mini"], "OPENAI_API_KEY"),
        (["--model", "tiny", "--api-base", "http://127.0.0.1:9/v1"], "cannot reach"),
        (["--suite", "no-such-suite"], "unknown suite"),
        (["--split", "weird"], "no split"),
    ],
)
def test_bad_run_arguments_fail_cleanly_and_write_nothing(workspace, args, message):
    result = run("run", "--suite", "humaneval", "-w", str(workspace), *args, env={"OPENAI_API_KEY": ""})
    assert message in one_line_error(result)
    assert list(workspace.iterdir()) == []


@pytest.mark.parametrize(
    "text", ["model: [unclosed", "- just\n- a list\n", "model:\n  nmae: x\n", "limits:\n  max_steps: -3\n"]
)
def test_malformed_config_files_name_the_problem(workspace, tmp_path, text):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    line = one_line_error(run("run", "-c", str(config), "-w", str(workspace)))
    assert str(config) in line
    assert list(workspace.iterdir()) == []


def test_an_unwritable_workspace_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        # root ignores permissions, so make it a file instead of a folder when running as root
        target = locked if os.geteuid() != 0 else tmp_path / "a-file"
        if os.geteuid() == 0:
            target.write_text("")
        result = run("run", "--suite", "humaneval", "-w", str(target))
        assert "workspace" in one_line_error(result)
    finally:
        locked.chmod(0o700)


def test_runs_list_on_an_empty_workspace(workspace):
    assert json.loads(run("runs", "list", "--json", "-w", str(workspace)).stdout) == []
    assert "no run" in one_line_error(run("runs", "show", "nope", "-w", str(workspace)))
