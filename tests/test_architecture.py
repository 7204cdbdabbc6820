"""The layers stay as designed, and a new environment kind plugs in from one package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agentevo
from agentevo.config import RunConfig
from agentevo.memory.learner import MemoryLearner
from agentevo.memory.store import ExperienceStore
from agentevo.runs.build import build_runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel

PACKAGE = Path(agentevo.__file__).parent
ABOVE_ENVS = ("memory", "tools", "evolve", "runs", "agent", "cli", "train", "ui", "kinds")


def modules() -> dict[str, set[str]]:
    """Every agentevo module and the agentevo modules it imports, at the top or inside a function."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "environments" in path.relative_to(PACKAGE).parts:
            continue  # assets, not part of the package's code
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("agentevo", *parts)).removesuffix(".__init__")
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
        found[name] = {m for m in imported if m == "agentevo" or m.startswith("agentevo.")}
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_records_and_errors_import_nothing_of_agentevo_and_protocols_only_them():
    found = modules()
    assert found["agentevo.records"] == set() and found["agentevo.errors"] == set()
    assert found["agentevo.protocols"] <= {"agentevo.records", "agentevo.errors"}
    assert found["agentevo.kinds"] <= {"agentevo.records", "agentevo.protocols", "agentevo.errors"}


def test_environments_know_nothing_above_them():
    wrong = {
        (name, imp)
        for name, imports in modules().items()
        if within(name, "agentevo.envs")
        for imp in imports
        if any(within(imp, f"agentevo.{layer}") for layer in ABOVE_ENVS)
    }
    assert wrong == set()


def test_nothing_outside_the_cli_imports_it():
    wrong = {
        (name, imp)
        for name, imports in modules().items()
        if not within(name, "agentevo.cli")
        for imp in imports
        if within(imp, "agentevo.cli")
    }
    assert wrong == set()


def test_a_new_kind_registered_from_one_package_runs_learns_and_recalls(tmp_path):
    from tests.toykind import SUITE, TASKS

    cfg = RunConfig.model_validate({"run": {"concurrency": 1}, "limits": {"max_steps": 2}})
    trajectories = TrajectoryStore.for_workspace(tmp_path)

    def solver(messages, tools):
        return "say " + messages[-1]["content"].split('"')[1]

    def copier(messages, tools):  # can only repeat a demonstrated answer
        answers = [m["content"] for m in messages if m["role"] == "assistant"]
        return answers[-1] if answers else "I do not know."

    def run(model, task, learners):
        runner = build_runner(
            cfg, SUITE, tmp_path, model=model, store=trajectories, learners=learners, show_progress=False
        )
        summary = runner.execute(runner.start([task]), [task])
        return next(trajectories.trajectories([summary.run_id]))

    with ExperienceStore.for_workspace(tmp_path, embedder="hash:64") as store:
        learner = MemoryLearner.for_config(cfg, store, FunctionModel(solver))
        first = run(FunctionModel(solver), TASKS[0], [learner])
        [workflow] = store.items()
        assert first.outcome == "success" and workflow.kind == "workflow" and workflow.trust == "trusted"
        assert run(FunctionModel(copier), TASKS[2], []).outcome != "success"  # nothing to copy
        recalled = run(FunctionModel(copier), TASKS[2], [learner])
    assert recalled.outcome == "success" and recalled.steps[0].retrieved == (workflow.id,)
    assert recalled.messages[0]["content"].startswith("You repeat words.")  # the kind's own prompts


@pytest.mark.parametrize("kind", ["code", "os", "web"])
def test_the_built_in_kinds_are_registered_plugins(kind):
    from agentevo.kinds import kind as spec

    assert spec(kind).name == kind and spec(kind).compile is not None
