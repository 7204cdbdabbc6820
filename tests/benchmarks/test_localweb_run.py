"""local-web through the runner and the command line: parallel workers on private sites, the CLI listing,
and (slow) the embedded model offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentevo.benchmarks import get_suite
from agentevo.benchmarks.localweb.reference import ReplayError, resolve_text
from agentevo.config import RunConfig
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel, last_user_text

ROOT = Path(__file__).resolve().parents[2]


def agent_following_references(tasks):
    """A model that plays each task's reference, reading element ids off the observation it is shown. When
    the element is not on the page yet (a click's navigation that started after the observation, on a
    loaded machine), it scrolls — a harmless action that brings a fresh observation — and tries again."""
    by_intent = {t.instruction: t for t in tasks}
    progress: dict[str, int] = {}

    def reply(messages, tools):
        text = last_user_text(messages)
        objective = next(line[11:] for line in text.splitlines() if line.startswith("OBJECTIVE: "))
        step = progress.setdefault(objective, 0)
        try:
            action = resolve_text(by_intent[objective].meta["reference"][step], text)
        except ReplayError:
            return "```scroll [up]```"
        progress[objective] = step + 1
        return action

    return FunctionModel(reply)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "agentevo.cli", *args], capture_output=True, text=True, env=full, timeout=1800
    )


def test_parallel_workers_each_solve_state_changing_tasks_on_their_own_sites(workspace):
    suite = get_suite("local-web")
    # two purchases and two new posts at once: on shared sites the "latest order"/"newest post" checks
    # of one worker would see the other's
    tasks = [t for t in suite.tasks("all") if t.template_id in ("112", "207")][:4]
    config = RunConfig.model_validate(
        {
            "limits": {"max_steps": 10},
            "run": {"concurrency": 2},
            "environment": {
                "suite": "local-web",
                "options": {"screenshots": False, "navigation_grace_ms": 500},
            },
        }
    )
    runner = Runner(
        config=config,
        workspace=workspace,
        store=TrajectoryStore.for_workspace(workspace),
        model=agent_following_references(tasks),
        suite=suite,
        show_progress=False,
    )
    suite.check(config)
    summary = runner.execute(runner.start(tasks), tasks)
    failed = [
        (
            r.task_id,
            runner.store.trajectory(r.id).details,
            [s.observation.error for s in runner.store.steps(r.id)],
        )
        for r in runner.store.episodes(summary.run_id)
        if r.outcome != "success"
    ]
    assert (summary.episodes, summary.successes) == (4, 4), failed
    manifest = runner.store.manifest(summary.run_id)
    assert manifest.evaluator["flavour"] == "webarena"


def test_suites_json_lists_both_local_web_suites_with_their_splits():
    listed = {s["name"]: s for s in json.loads(cli("suites", "--json").stdout)}
    assert listed["local-web"]["splits"] == {"train": 26, "validation": 26, "test": 52}
    assert sum(listed["local-web-templates"]["splits"].values()) == 104


def test_shared_sites_with_several_workers_are_refused(tmp_path):
    both = {"AGENTEVO_SHOP_URL": "http://127.0.0.1:9", "AGENTEVO_FORUM_URL": "http://127.0.0.1:10"}
    result = cli("run", "--suite", "local-web", "-j", "2", "-w", str(tmp_path), **both)
    assert result.returncode != 0
    assert "concurrency 1" in result.stderr and not (tmp_path / "runs").exists()
    half = cli("run", "--suite", "local-web", "-w", str(tmp_path), AGENTEVO_SHOP_URL="http://127.0.0.1:9")
    assert half.returncode != 0 and "AGENTEVO_FORUM_URL" in half.stderr
    dead = cli("run", "--suite", "local-web", "-w", str(tmp_path), **both)
    assert dead.returncode != 0 and "no local site answers at http://127.0.0.1:9" in dead.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a 135M model reading a 1,700-token page on a busy CPU
def test_the_embedded_model_runs_local_web_offline(tmp_path):
    result = cli(
        "run", "--suite", "local-web", "--model", "local/smollm2", "--limit", "1", "--max-steps", "2",
        "--json", "-w", str(tmp_path), HF_HUB_OFFLINE="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["episodes"] == 1 and summary["suite"] == "local-web" and summary["status"] == "done"
