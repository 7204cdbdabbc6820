"""`agentevo train eval`: both arms through the Runner on the same held-out tasks and seeds, paired."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentevo.benchmarks import get_suite
from agentevo.errors import ConfigError
from agentevo.testing import FunctionModel
from agentevo.train.evaluate import EvalRequest, evaluate_adapter, held_out
from tests.helpers import solution

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A real, untrained LoRA adapter (B = 0: the same function as the base) that says it was trained on the
    first three test tasks of HumanEval."""
    import torch

    from agentevo.train.lora import TrainSettings, load_base, with_lora

    folder = tmp_path_factory.mktemp("adapter")
    model, _ = load_base(torch.device("cpu"), torch.float32)
    with_lora(model, TrainSettings(rank=2)).save_pretrained(str(folder))
    seen = [t.template_id for t in get_suite("humaneval").tasks("test")[:3]]
    (folder / "training.json").write_text(json.dumps({"data": {"train_groups": seen}}))
    return folder


def by_task(solve):
    tasks = get_suite("humaneval").tasks("all")

    def reply(messages, tools):
        task = next(t for t in tasks if t.instruction in messages[-1]["content"])
        return solution(task) if solve(task) else "```python\ndef nope():\n    return 0\n```"

    return reply


def test_arms_run_the_same_held_out_tasks_and_seeds_and_are_paired(adapter, workspace):
    base = FunctionModel(by_task(lambda t: False), name="local/smollm2")
    tuned = FunctionModel(by_task(lambda t: int(t.id.split("/")[1]) % 2 == 0), name="tuned")
    request = EvalRequest(
        adapter=adapter, suite="humaneval", limit=6, samples=2, max_steps=1, sandbox="local"
    )
    report = evaluate_adapter(request, workspace, progress=False, models=(base, tuned))
    seen = {t.id for t in get_suite("humaneval").tasks("test")[:3]}
    assert report.excluded_seen == 3 and not seen & set(report.task_ids) and len(report.task_ids) == 6
    base_arm, tuned_arm = report.arms
    assert (
        set(base_arm.outcomes) == set(tuned_arm.outcomes) == {(t, s) for t in report.task_ids for s in (0, 1)}
    )
    even = sum(int(t.split("/")[1]) % 2 == 0 for t in report.task_ids)
    assert (base_arm.successes, tuned_arm.successes) == (0, 2 * even)
    d = report.difference
    assert d.n == 12 and d.diff == pytest.approx(2 * even / 12) and d.b_only == 2 * even and d.a_only == 0
    assert d.ci95[0] <= d.diff <= d.ci95[1]
    assert tuned_arm.ci95[0] <= tuned_arm.rate <= tuned_arm.ci95[1]
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace)
    for arm in report.arms:
        row = store.get_run(arm.run_id)
        assert row.kind == "eval" and row.status == "done"
        assert store.manifest(arm.run_id).task_ids == tuple(report.task_ids)
    assert report.to_json()["paired_difference"]["of"] == "adapter - base"


def test_tasks_of_templates_seen_in_training_are_left_out():
    tasks = get_suite("humaneval").tasks("test")
    kept, excluded = held_out(tasks, [tasks[0].template_id, "not-a-template"], limit=None)
    assert excluded == 1 and tasks[0] not in kept and len(kept) == len(tasks) - 1


def test_a_missing_adapter_fails_before_anything_is_stored(workspace):
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate_adapter(
            EvalRequest(adapter=workspace / "nope", suite="humaneval"), workspace, progress=False
        )
    assert not (workspace / "runs").exists()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "agentevo.cli", "train", "eval", "--adapter", str(workspace / "nope")]
    done = subprocess.run(
        [*cli, "--suite", "humaneval", "-w", str(workspace)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2 and done.stderr.strip().startswith("error: adapter folder")


@pytest.mark.slow
def test_an_adapter_that_changes_nothing_ties_with_its_base_on_the_embedded_model(
    adapter, workspace, tmp_path
):
    config = tmp_path / "eval.yaml"
    config.write_text("model:\n  max_tokens: 48\n")
    request = EvalRequest(
        adapter=adapter, suite="humaneval", limit=2, max_steps=1, sandbox="local", config=config
    )
    from agentevo.models.engines import llama

    llama.close_all()  # both arms load afresh: a prefix that earlier calls computed can flip a near-tie
    report = evaluate_adapter(request, workspace, progress=False)
    assert [a.model for a in report.arms] == ["local/smollm2", f"local/smollm2+adapter:{adapter}"]
    assert report.difference.n == 2 and report.difference.diff == 0.0 and report.difference.ties == 2
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace)
    replies = [[t.steps[0].model_reply for t in store.trajectories([arm.run_id])] for arm in report.arms]
    assert replies[0] == replies[1]  # B = 0: greedy decoding gives the same replies
