"""The package works outside the checkout: the wheel built from this tree carries every file the code reads,
and installed (not editable) into a fresh venv, its `agentevo` command lists the suites and runs an os and a
local-web episode from a folder elsewhere, against a scripted OpenAI-compatible server that plays the
tasks' reference solutions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import venv
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentevo.benchmarks import get_suite
from agentevo.benchmarks.localweb.reference import ReplayError, resolve_text
from agentevo.benchmarks.os import reference_replies
from agentevo.runs.store import TrajectoryStore
from tests.envs.conftest import needs_bwrap

ROOT = Path(__file__).resolve().parents[1]
OS_TASK = "count-lines-1"  # answered off the output, judged by os/scripts/check/integer-match.py
WEB_TASK = "28"  # shop: open My Orders, read a total off the page
# variables that would point the installed package back into a checkout
CHECKOUT_VARS = ("PYTHONPATH", "AGENTEVO_OS_TASKS", "AGENTEVO_SITES_DIR", "AGENTEVO_SANDBOX_RECIPE")

Reply = Callable[[list[dict[str, Any]]], str]


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the install check reads the tracked files with git; run it in a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tracked files: builds leave nothing in the checkout, and setuptools' build/ folder
    there could carry files that are no longer tracked."""
    source = tmp_path_factory.mktemp("source")
    for name in tracked_files():
        src, dst = ROOT / name, source / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_file():  # a file deleted but not yet staged is still listed
            shutil.copy2(src, dst)
    return source


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*build, "-w", str(out), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("agentevo-*.whl")
    return built


def fresh_venv(env_dir: Path, *install: str) -> Path:
    """A new venv with agentevo installed by `pip install --no-deps *install`. The project venv's packages
    (torch, playwright…) are reached through a .pth line that appends its site-packages; the .pth files inside
    an appended folder are not run, so the project's own editable install of agentevo stays out."""
    venv.create(env_dir, with_pip=False, symlinks=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, env=clean_env(),
    ).stdout.strip()  # fmt: skip
    Path(purelib, "agentevo-project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
         "--ignore-installed", *install],  # never looks at, let alone uninstalls, the project's agentevo
        check=True, capture_output=True, env=clean_env(), timeout=300,
    )  # fmt: skip
    return env_dir


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("venv"), str(wheel))


def where_from(venv_dir: Path, cwd: Path) -> tuple[Path, Path]:
    """Where the venv's python imports agentevo from, and where that finds the environment assets."""
    probe = "import agentevo, agentevo.assets as a; print(agentevo.__file__); print(a.environments_root())"
    result = subprocess.run(
        [str(venv_dir / "bin" / "python"), "-c", probe],
        cwd=cwd, capture_output=True, text=True, env=clean_env(), check=True,
    )  # fmt: skip
    package, assets = (Path(line) for line in result.stdout.split())
    return package, assets


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARS}


def agentevo(venv_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert not cwd.resolve().is_relative_to(ROOT)
    return subprocess.run(
        [str(venv_dir / "bin" / "agentevo"), *args],
        cwd=cwd, capture_output=True, text=True, env=clean_env(), timeout=600,
    )  # fmt: skip


class ScriptedServer(ThreadingHTTPServer):
    """An OpenAI-compatible chat endpoint whose replies a function computes from the messages."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.reply = reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            text = self.server.reply(body["messages"])
        except Exception as exc:  # a 400 ends the episode at once (a 500 would be retried)
            return self.send(400, {"error": {"message": f"scripted reply failed: {exc!r}", "type": "bad"}})
        return self.send(
            200,
            {
                "id": "scripted",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
        )

    def send(self, code: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def serve() -> Iterator[Callable[[Reply], str]]:
    servers: list[ScriptedServer] = []

    def start(reply: Reply) -> str:
        server = ScriptedServer(reply)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def run_one(venv_dir: Path, cwd: Path, url: str, suite: str, task: str) -> dict[str, Any]:
    """One episode through the installed command; its JSON summary, after checking the run was stored."""
    workspace = cwd / "ws"
    result = agentevo(
        venv_dir, cwd, "run", "--suite", suite, "--split", "all", "--task", task, "--json",
        "-w", str(workspace), "--model", "openai/scripted", "--api-base", url, "--memory", "off",
        "--max-steps", "6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    store = TrajectoryStore.for_workspace(workspace)
    (episode,) = store.episodes(summary["run_id"])
    assert episode.task_id == task
    return summary


def test_the_wheel_carries_every_tracked_file_of_the_package_and_its_environments(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [
        name if name.startswith("agentevo/") else f"agentevo/{name}"
        for name in tracked_files()
        if name.startswith(("agentevo/", "environments/")) and (ROOT / name).is_file()
    ]
    assert "agentevo/environments/sandbox/setup.sh" in wanted
    assert [name for name in wanted if name not in names] == []


def test_the_installed_package_runs_from_the_venv_not_the_checkout(installed, tmp_path):
    package, assets = where_from(installed, tmp_path)
    assert package.is_relative_to(installed) and assets.is_relative_to(installed)
    assert not package.resolve().is_relative_to(ROOT) and not assets.resolve().is_relative_to(ROOT)
    listed = agentevo(installed, tmp_path, "suites", "--json")
    assert listed.returncode == 0, listed.stderr
    counts = {s["name"]: sum(s["splits"].values()) for s in json.loads(listed.stdout)}
    assert counts["os"] == len(get_suite("os").tasks("all")) and counts["local-web"] == 104


@needs_bwrap
def test_the_installed_command_solves_an_os_task_with_its_reference(installed, tmp_path, serve):
    task = next(t for t in get_suite("os").tasks("all") if t.id == OS_TASK)

    def reply(messages: list[dict[str, Any]]) -> str:
        start = max(i for i, m in enumerate(messages) if task.instruction in text_of(m))  # after the demo
        if not any(m["role"] == "assistant" for m in messages[start:]):
            return reference_replies(task, "not yet known")[0]  # the bash reply; the answer comes next
        answer = text_of(messages[-1]).split("The output of the OS:", 1)[1].strip()
        return reference_replies(task, answer)[1]

    summary = run_one(installed, tmp_path, serve(reply), "os", OS_TASK)
    assert (summary["episodes"], summary["successes"]) == (1, 1), summary


def test_the_installed_command_solves_a_local_web_task_with_its_reference(installed, tmp_path, serve):
    task = next(t for t in get_suite("local-web").tasks("all") if t.id == WEB_TASK)
    done: list[int] = []

    def reply(messages: list[dict[str, Any]]) -> str:
        try:  # ids are read off the observation, as a model would
            action = resolve_text(task.meta["reference"][len(done)], text_of(messages[-1]))
        except ReplayError:  # the page was not there yet: a harmless action brings a fresh observation
            return "```scroll [up]```"
        done.append(1)
        return action

    summary = run_one(installed, tmp_path, serve(reply), "local-web", WEB_TASK)
    assert (summary["episodes"], summary["successes"]) == (1, 1), summary


def test_an_editable_install_reads_the_assets_of_its_source_tree(source, tmp_path):
    editable = fresh_venv(tmp_path / "venv", "--editable", str(source))
    package, assets = where_from(editable, tmp_path)
    assert package == source / "agentevo" / "__init__.py" and assets == source / "environments"
    listed = agentevo(editable, tmp_path, "suites", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"os", "local-web"} <= {s["name"] for s in json.loads(listed.stdout)}
