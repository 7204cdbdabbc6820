"""`agentevo --help` and the listing commands start without loading the heavy libraries.

Each check runs the command in a fresh interpreter (this process has imported everything already) and reads
`sys.modules` at the end: what was imported, not how long it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Never needed to print help: the models, the agent graph, the browser, the vector index, numpy, SQL.
NOT_FOR_HELP = (
    "torch",
    "transformers",
    "litellm",
    "chromadb",
    "langgraph",
    "playwright",
    "matplotlib",
    "numpy",
    "sqlalchemy",
    "llama_cpp",
    "llguidance",
)
# Listing reads the SQL ledger (sqlmodel, sqlalchemy), and nothing of the models, the agent or the index;
# numpy only when vectors are searched.
NOT_FOR_LISTING = (
    "torch",
    "transformers",
    "litellm",
    "chromadb",
    "langgraph",
    "playwright",
    "matplotlib",
    "llama_cpp",
    "numpy",
)

# Runs the typer app in-process as the console script does, then reports which modules it loaded.
PROBE = """
import json, sys
from agentevo.cli import app
try:
    app(args=sys.argv[2:], prog_name="agentevo", standalone_mode=False)
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
with open(sys.argv[1], "w") as f:
    json.dump(sorted(sys.modules), f)
"""

MAKE_MEMORY = """
import sys
from pathlib import Path
from agentevo.memory.store import ExperienceStore
ExperienceStore.for_workspace(Path(sys.argv[1]), mode="write").close()
"""


def env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def modules_of(args: list[str], tmp_path: Path) -> set[str]:
    """The modules a fresh `agentevo ARGS` process has imported when it is done."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(report.read_text()))


def loaded_by(args: list[str], tmp_path: Path) -> set[str]:
    """The top-level packages a fresh `agentevo ARGS` process has imported when it is done."""
    return {name.split(".")[0] for name in modules_of(args, tmp_path)}


@pytest.fixture
def workspace_with_memory(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    subprocess.run([sys.executable, "-c", MAKE_MEMORY, str(ws)], env=env(), check=True, timeout=120)
    assert (ws / "memory_store" / "memory.db").exists()
    return ws


def test_help_loads_no_heavy_library(tmp_path):
    loaded = loaded_by(["--help"], tmp_path)
    assert "typer" in loaded  # the probe did build the help
    assert sorted(loaded & set(NOT_FOR_HELP)) == []


def test_a_command_group_help_loads_no_heavy_library(tmp_path):
    loaded = loaded_by(["memory", "--help"], tmp_path)
    assert sorted(loaded & set(NOT_FOR_HELP)) == []


@pytest.mark.parametrize(
    "command", [["memory", "list"], ["tools", "list"], ["runs", "list"]], ids=lambda c: " ".join(c)
)
def test_a_listing_command_loads_no_model_agent_or_index_library(command, workspace_with_memory, tmp_path):
    loaded = loaded_by([*command, "-w", str(workspace_with_memory)], tmp_path)
    assert "sqlalchemy" in loaded  # it did read its store
    assert sorted(loaded & set(NOT_FOR_LISTING)) == []


def test_a_command_imports_its_own_command_module_only(workspace_with_memory, tmp_path):
    loaded = modules_of(["memory", "list", "-w", str(workspace_with_memory)], tmp_path)
    commands = {m for m in loaded if m.startswith("agentevo.cli.")}
    assert commands == {"agentevo.cli.app", "agentevo.cli.options", "agentevo.cli.memory"}
