"""Task suites: each knows its tasks (with stable, disjoint train / validation / test splits) and how to make
its environment. Practice reads `train`, every decision of an evolution run (gate, plateau, curriculum)
reads `validation`, and `test` is only ever reported.

Suites register themselves in SUITES when their module is imported; `get_suite` imports them lazily.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.config import RunConfig
from agentevo.errors import SuiteError
from agentevo.protocols import Environment
from agentevo.records import Kind, Task

SUITE_MODULES = (
    "agentevo.benchmarks.humaneval",
    "agentevo.benchmarks.webarena",
    "agentevo.benchmarks.miniwob",
    "agentevo.benchmarks.os",
    "agentevo.benchmarks.localweb",
)


SPLITS = ("train", "validation", "test")
TEST_FRACTION = 0.3
VALIDATION_FRACTION = 0.15


@dataclass
class EnvContext:
    """What a suite needs to build an environment for one worker."""

    config: RunConfig
    workspace: Path
    run_dir: Path
    worker: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    kind: Kind
    description: str
    load: Callable[[], list[Task]]
    make_env: Callable[[EnvContext], Environment]
    check: Callable[[RunConfig], None] = lambda cfg: None
    prompt_set: str = ""
    splits: tuple[str, ...] = SPLITS
    make_instances: Callable[[str, int, int], list[Task]] | None = None
    """Fresh practice instances of a template: (template_id, n, seed) → tasks, never held-out test ones."""
    seeded: bool = False
    """Whether the episode seed draws the instance (MiniWoB++ pages): another train seed, another task."""

    def tasks(self, split: str = "test") -> list[Task]:
        tasks = self.load()
        if split == "all":
            return tasks
        if split not in self.splits:
            raise SuiteError(
                f"suite {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}, all"
            )
        return [t for t in tasks if t.split == split]


SUITES: dict[str, Suite] = {}


def register_suite(suite: Suite) -> Suite:
    SUITES[suite.name] = suite
    return suite


def load_all() -> dict[str, Suite]:
    for module in SUITE_MODULES:
        importlib.import_module(module)
    return SUITES


def get_suite(name: str) -> Suite:
    suites = load_all()
    if name not in suites:
        raise SuiteError(f"unknown suite {name!r}; known: {', '.join(sorted(suites))}")
    return suites[name]


def suite_for(cfg: RunConfig) -> Suite:
    """The suite a run names: a file of the user's own task configs, or a registered suite."""
    if cfg.environment.suite_file:
        from agentevo.benchmarks.webarena import file_suite

        return file_suite(cfg.environment.suite_file)
    return get_suite(cfg.environment.suite)


def stable_split(key: str, test_fraction: float = TEST_FRACTION, validation_fraction: float = 0.0) -> str:
    """A split that never changes for a given key (task id or template id): the hash's first
    `test_fraction` is test, the next `validation_fraction` validation, the rest train — so adding a
    validation split takes it from train and leaves every test key where it was."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    if bucket < test_fraction:
        return "test"
    return "validation" if bucket < test_fraction + validation_fraction else "train"


def suite_split(key: str) -> str:
    """The three-way split of a suite's key (task or template id)."""
    return stable_split(key, TEST_FRACTION, VALIDATION_FRACTION)
