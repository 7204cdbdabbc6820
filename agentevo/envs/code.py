"""The code environment: the model writes a Python solution; it runs against the task's tests in a sandbox.

A task's `meta` holds `prompt` (the code to complete), `tests` (a test program), and `entry_point` (the
function the tests call, as `check(entry_point)`). A solution that passes ends the episode with reward 1;
a failing one comes back as an observation with the error, so the agent can retry within its step budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agentevo.agent.parsing import fenced_blocks
from agentevo.errors import FormatError
from agentevo.protocols import Sandbox
from agentevo.records import Action, ExecResult, Observation, Task, Trajectory

FEEDBACK_LINES = 25
NO_CODE = (
    "I could not find Python code in your reply. Reply with the complete function in one "
    "```python code block."
)


def extract_code(text: str) -> str:
    blocks = [b for b in fenced_blocks(text, ("python", "py", "python3")) if b.strip()]
    if blocks:
        return max(blocks, key=lambda b: ("def " in b, len(b)))
    start = re.search(r"^(def |import |from |class )", text, re.M)
    if start is None:
        raise FormatError(NO_CODE)
    return text[start.start() :]


def assemble(meta: dict[str, Any], code: str) -> str:
    """The program that tests a solution: the prompt (helpers, imports, stub), the solution, the tests."""
    entry = meta.get("entry_point", "")
    prompt = meta.get("prompt", "")
    if entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
        body = f"{prompt}\n    pass\n\n{code}" if prompt else code
    else:
        body = prompt + code  # a bare function body continues the prompt
    check = f"\n\ncheck({entry})\n" if entry else "\n"
    return f"{body}\n\n{meta.get('tests', '')}{check}"


def failure_text(result: ExecResult, timeout_s: float) -> str:
    if result.timed_out:
        return f"Your solution did not finish within {timeout_s:g} s (an infinite loop?)."
    if result.killed:
        return f"Your solution was killed ({result.killed})."
    lines = (result.stderr or result.stdout).strip().splitlines()
    shown = "\n".join(lines[-FEEDBACK_LINES:]) or f"exit code {result.exit_code}"
    return f"Your solution failed its tests:\n```\n{shown}\n```\nReply with a corrected complete solution."


class CodeEnvironment:
    kind = "code"

    def __init__(self, sandbox_factory: Callable[[], Sandbox], *, timeout_s: float = 10.0) -> None:
        self.sandbox_factory = sandbox_factory
        self.timeout_s = timeout_s
        self.sandbox: Sandbox | None = None
        self.task: Task | None = None
        self.passed = False
        self.details: dict[str, Any] = {}

    def reset(self, task: Task) -> Observation:
        self.close()
        self.sandbox = self.sandbox_factory()
        self.task = task
        self.passed = False
        self.details = {"submissions": 0}
        return Observation(text=task.instruction)

    def parse_action(self, text: str) -> Action:
        return Action(name="submit", args={"code": extract_code(text)}, raw=text)

    def step(self, action: Action) -> Observation:
        if self.task is None or self.sandbox is None:
            return Observation(text="", error="no task: reset first")
        if action.name != "submit" or not isinstance(action.args.get("code"), str):
            return Observation(text="", error=f"unknown action {action.name!r}: submit Python code")
        program = assemble(self.task.meta, action.args["code"])
        self.sandbox.write_file("solution_test.py", program)
        result = self.sandbox.exec(["python3", "solution_test.py"], timeout_s=self.timeout_s)
        self.details["submissions"] += 1
        self.passed = result.ok
        self.details["last"] = {
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "killed": result.killed,
            "seconds": round(result.seconds, 3),
        }
        if self.passed:
            return Observation(text="All tests passed.", done=True, reward=1.0)
        return Observation(text=failure_text(result, self.timeout_s), reward=0.0)

    def score(self, trajectory: Trajectory) -> float:
        return 1.0 if self.passed else 0.0

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
