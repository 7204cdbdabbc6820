"""`agentevo tools …` from the command line: one clear line and a non-zero exit on bad input.

Most commands run in-process through `agentevo.cli.main` (the same entry point as the console script); one
test starts the real process to see the exit code and stderr a shell sees.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from tests.tools.helpers import BACKEND

AGENTEVO = [sys.executable, "-m", "agentevo.cli"]
ADD = 'def add_numbers(a: int, b: int) -> int:\n    """Add two integers."""\n    return {expr}\n'
ADD_TESTS = "from tool import add_numbers\n\n\ndef test_adds():\n    assert add_numbers(2, 3) == 5\n"


def process(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AGENTEVO_TOOLS_DB_URL": ""}
    return subprocess.run([*AGENTEVO, *args], capture_output=True, text=True, timeout=120, env=env)


def run(*args: str) -> subprocess.CompletedProcess:
    """`agentevo ARGS` in this process: its exit code, stdout and stderr."""
    from agentevo import cli

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        mock.patch.object(sys, "argv", ["agentevo", *args]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    return lines[0]


def tool_folder(root: Path, name: str, expr: str, tests: str = ADD_TESTS) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "tool.py").write_text(ADD.format(expr=expr))
    (folder / "test_tool.py").write_text(tests)
    return folder


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    workspace = root / "ws"
    workspace.mkdir()
    added = run(
        "tools",
        "add",
        str(tool_folder(root, "v1", "a + b")),
        "-w",
        str(workspace),
        "--sandbox",
        BACKEND,
        "--json",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["name"] == "add_numbers"
    v2 = tool_folder(
        root, "v2", "b + a", tests=ADD_TESTS + "\n\ndef test_zero():\n    assert add_numbers(0, 0) == 0\n"
    )
    assert run("tools", "add", str(v2), "-w", str(workspace), "--sandbox", BACKEND).returncode == 0
    return root, workspace


def test_add_registers_through_the_gate_and_list_shows_versions(ws):
    _root, workspace = ws
    rows = json.loads(run("tools", "list", "--all", "--json", "-w", str(workspace)).stdout)
    assert [(r["name"], r["version"], r["status"]) for r in rows] == [
        ("add_numbers", 1, "retired"),
        ("add_numbers", 2, "active"),
    ]
    shown = json.loads(run("tools", "show", "add_numbers@1", "--json", "-w", str(workspace)).stdout)
    assert shown["version"] == 1 and shown["versions"] == [1, 2] and "return a + b" in shown["source"]
    assert shown["events"][0]["event"] == "retired"


def test_diff_shows_what_changed_between_versions(ws):
    _root, workspace = ws
    diff = json.loads(run("tools", "diff", "add_numbers", "1", "2", "--json", "-w", str(workspace)).stdout)
    assert "-    return a + b" in diff["files"]["tool.py"] and "+    return b + a" in diff["files"]["tool.py"]
    assert "+def test_zero():" in diff["files"]["test_tool.py"]


def test_a_rejected_folder_prints_the_rule_and_exits_non_zero(ws):
    root, workspace = ws
    bad = root / "bad"
    bad.mkdir()
    (bad / "tool.py").write_text(
        'import os\n\n\ndef leak(name: str) -> str:\n    """Leak."""\n    return os.environ[name]\n'
    )
    (bad / "test_tool.py").write_text("from tool import leak\n\n\ndef test_it():\n    assert leak('HOME')\n")
    line = one_line_error(process("tools", "add", str(bad), "-w", str(workspace), "--sandbox", BACKEND))
    assert "tool 'leak' rejected: forbidden-import" in line
    rejected = json.loads(run("tools", "rejections", "--json", "-w", str(workspace)).stdout)
    assert rejected[0]["name"] == "leak" and rejected[0]["code"] == "forbidden-import"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tools", "show", "nosuch"], "no tool nosuch"),
        (["tools", "show", "add_numbers@x"], "a version is a number"),
        (["tools", "diff", "add_numbers", "1", "9"], "no tool add_numbers@9"),
        (["tools", "add", "/nonexistent/folder"], "not a folder"),
        (["tools", "add", "."], "no tool.py"),
    ],
)
def test_bad_input_is_one_line(ws, args, message):
    _root, workspace = ws
    assert message in one_line_error(run(*args, "-w", str(workspace)))


def test_test_and_verify_retire_a_tampered_tool(ws, tmp_path):
    _root, workspace = ws
    assert run("tools", "test", "add_numbers", "-w", str(workspace), "--sandbox", BACKEND).returncode == 0
    source = workspace / "tools_archive" / "add_numbers" / "v2" / "tool.py"
    source.write_text(source.read_text() + "\nSTOLEN = 1\n")
    assert run("tools", "test", "add_numbers", "-w", str(workspace), "--sandbox", BACKEND).returncode == 1
    verified = json.loads(run("tools", "verify", "--json", "-w", str(workspace), "--sandbox", BACKEND).stdout)
    assert [(v["name"], v["ok"], v["action"]) for v in verified] == [("add_numbers", False, "retired")]
    assert "tampered" in verified[0]["detail"]
    listed = json.loads(run("tools", "list", "--json", "-w", str(workspace)).stdout)
    assert listed == []


def test_run_rejects_a_bad_tools_flag(tmp_path):
    line = one_line_error(run("run", "--suite", "humaneval", "--tools", "maybe", "-w", str(tmp_path)))
    assert "--tools takes on or off" in line
