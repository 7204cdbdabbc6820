"""A small deterministic environment for search tests: type a keypad's code one digit at a time
(`press D`). A wrong digit locks the keypad (the episode ends, failed); the last right digit opens it.
It counts its resets and steps, so a test can see what a search cost."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.benchmarks import Suite
from agentevo.errors import FormatError
from agentevo.kinds import KindSpec, register_kind
from agentevo.records import Action, Observation, Task, Trajectory
from agentevo.testing import FunctionModel

PRESS = re.compile(r"^press (\d)$", re.M)

KEYPAD = register_kind(KindSpec(name="keypad", prompts_dir=Path(__file__).parent / "keypad_prompts"))


@dataclass
class Tally:
    """What every keypad of a test did: resets per task, and steps."""

    resets: Counter[str] = field(default_factory=Counter)
    steps: int = 0


class KeypadEnvironment:
    kind = "keypad"

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.task: Task | None = None
        self.typed = ""
        self.locked = False
        self.details: dict[str, Any] = {}

    def reset(self, task: Task) -> Observation:
        self.task, self.typed, self.locked, self.details = task, "", False, {}
        self.tally.resets[task.id] += 1
        return Observation(text=f"{task.instruction}\nTyped: nothing yet")

    def parse_action(self, text: str) -> Action:
        match = PRESS.search(text)
        if match is None:
            raise FormatError("Reply with one line: press DIGIT")
        return Action(name="press", args={"digit": match.group(1)}, raw=match.group(0))

    def step(self, action: Action) -> Observation:
        assert self.task is not None and not self.locked
        self.tally.steps += 1
        code, digit = self.task.meta["code"], str(action.args["digit"])
        if digit != code[len(self.typed)]:
            self.locked = True
            return Observation(text=f"Wrong digit {digit}: the keypad is locked.", done=True, reward=0.0)
        self.typed += digit
        opened = self.typed == code
        return Observation(text=f"Typed: {self.typed}", done=opened, reward=1.0 if opened else None)

    def score(self, trajectory: Trajectory) -> float:
        assert self.task is not None
        return 1.0 if self.typed == self.task.meta["code"] else 0.0

    def close(self) -> None:
        pass


def task(code: str, split: str = "train") -> Task:
    return Task(
        id=f"keypad-{code}",
        suite="keypad",
        kind="keypad",
        instruction=f"Open the keypad whose code is {code}.",
        template_id="keypad",
        split=split,
        meta={"code": code},
    )


def suite(tasks: list[Task], tally: Tally) -> Suite:
    return Suite(
        name="keypad",
        kind="keypad",
        description="type a keypad's code",
        load=lambda: list(tasks),
        make_env=lambda ctx: KeypadEnvironment(tally),
        prompt_set="keypad",
    )


def sampler(replies: list[str]) -> FunctionModel:
    """A model whose n-th reply to the same conversation is replies[n mod len]: what sampling the same
    prompt again gives. Its first reply is what an unsearched episode gets."""
    seen: Counter[str] = Counter()

    def reply(messages, tools):
        key = json.dumps(messages, sort_keys=True)
        n = seen[key]
        seen[key] += 1
        return replies[n % len(replies)]

    return FunctionModel(reply)
