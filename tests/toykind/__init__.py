"""A toy environment kind, all in this one package: its spec, prompts, environment and suite. The
architecture test plugs it in and runs, learns and recalls with it — adding a kind touches nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentevo.benchmarks import Suite
from agentevo.errors import FormatError
from agentevo.kinds import KindSpec, register_kind
from agentevo.records import Action, Observation, Task, Trajectory

SAY = re.compile(r"^say (\w+)$", re.M)

ECHO = register_kind(KindSpec(name="echo", prompts_dir=Path(__file__).parent / "prompts"))


class EchoEnvironment:
    """Say the quoted word: `say WORD`."""

    kind = "echo"

    def __init__(self) -> None:
        self.task: Task | None = None
        self.said = ""
        self.details: dict[str, Any] = {}

    def reset(self, task: Task) -> Observation:
        self.task, self.said, self.details = task, "", {}
        return Observation(text=task.instruction)

    def parse_action(self, text: str) -> Action:
        match = SAY.search(text)
        if match is None:
            raise FormatError("Reply with one line: say WORD")
        return Action(name="say", args={"word": match.group(1)}, raw=match.group(0))

    def step(self, action: Action) -> Observation:
        self.said = str(action.args.get("word", ""))
        self.details["said"] = self.said
        return Observation(text=f"You said {self.said}.", done=True)

    def score(self, trajectory: Trajectory) -> float:
        assert self.task is not None
        return 1.0 if self.said == self.task.meta["word"] else 0.0

    def close(self) -> None:
        pass


def task(word: str, split: str) -> Task:
    return Task(
        id=f"say-{word}",
        suite="echo",
        kind="echo",
        instruction=f'Say the word "{word}".',
        template_id="say-word",
        split=split,
        meta={"word": word},
    )


TASKS = [task("apple", "train"), task("pear", "validation"), task("banana", "test")]
SUITE = Suite(
    name="echo",
    kind="echo",
    description="say the quoted word",
    load=lambda: list(TASKS),
    make_env=lambda ctx: EchoEnvironment(),
    prompt_set="echo",
)
