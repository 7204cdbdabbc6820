"""The code environment: the model writes a Python solution; it runs against the task's tests in a sandbox.

A task's `meta` holds `prompt` (the code to complete), `tests` (a test program defining `check`), and
`entry_point` (the function the tests call, as `check(entry_point)`). A solution that passes ends the
episode with reward 1; a failing one comes back as an observation with the error, so the agent can retry
within its step budget.

The reward cannot be gamed by the solution: every submission gets a fresh sandbox, and the trusted runner
(`code_runner.py`, run as `python3 -I -c`) keeps the tests and a random nonce out of the solution's reach,
calls the solution in another process, and prints `<nonce> PASS <calls>` only when `check` returned
normally. Reward 1 needs exactly that line on stdout; the exit code is ignored (a solution can exit 0 from
anywhere), and nothing on disk or in the solution's process can produce the line without the nonce.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from agentevo.envs.replies import fenced_blocks
from agentevo.envs.sandboxed import SandboxedEnvironment
from agentevo.errors import FormatError
from agentevo.records import Action, ExecResult, Observation, Task

FEEDBACK_LINES = 25
SOLUTION_FILE = "solution.py"
RUNNER = Path(__file__).with_name("code_runner.py")
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


def solution_source(meta: dict[str, Any], code: str) -> str:
    """The file the solution's process runs: the prompt (helpers, imports, stub), then the solution."""
    entry = meta.get("entry_point", "")
    prompt = meta.get("prompt", "")
    if entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
        return f"{prompt}\n    pass\n\n{code}\n" if prompt else f"{code}\n"
    return f"{prompt}{code}\n"  # a bare function body continues the prompt


def runner_command(entry: str) -> list[str]:
    """`python3 -I`: isolated, so files the solution writes into the workdir cannot shadow a module."""
    return ["python3", "-I", "-c", RUNNER.read_text(), SOLUTION_FILE, entry]


def runner_input(meta: dict[str, Any], nonce: str) -> bytes:
    """What the runner reads on stdin, after the solution's process has let go of it."""
    return json.dumps({"nonce": nonce, "prompt": meta.get("prompt", ""), "tests": meta["tests"]}).encode()


def passed(result: ExecResult, nonce: str) -> bool:
    """Only the runner, which alone knows the nonce, prints this line, and only when every test passed."""
    return any(
        line.split(" ")[:2] == [nonce, "PASS"] and len(line.split(" ")) == 3
        for line in result.stdout.splitlines()
    )


def failure_text(result: ExecResult, timeout_s: float) -> str:
    if result.timed_out:
        return f"Your solution did not finish within {timeout_s:g} s (an infinite loop?)."
    if result.killed:
        return f"Your solution was killed ({result.killed})."
    lines = result.stderr.strip().splitlines()
    shown = "\n".join(lines[-FEEDBACK_LINES:]) or f"exit code {result.exit_code}"
    return f"Your solution failed its tests:\n```\n{shown}\n```\nReply with a corrected complete solution."


class CodeEnvironment(SandboxedEnvironment):
    kind = "code"

    def reset(self, task: Task) -> Observation:
        self.begin(task, {"submissions": 0})
        return Observation(text=task.instruction)

    def parse_action(self, text: str) -> Action:
        return Action(name="submit", args={"code": extract_code(text)}, raw=text)

    def step(self, action: Action) -> Observation:
        if self.task is None:
            return Observation(text="", error="no task: reset first")
        if action.name != "submit" or not isinstance(action.args.get("code"), str):
            return Observation(text="", error=f"unknown action {action.name!r}: submit Python code")
        meta = self.task.meta
        if not meta.get("entry_point") or "tests" not in meta:
            return Observation(text="", error="this code task has no entry_point or tests")
        result, nonce = self.run(meta, action.args["code"])
        self.details["submissions"] += 1
        self.passed = passed(result, nonce)
        self.details["last"] = {
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "killed": result.killed,
            "seconds": round(result.seconds, 3),
        }
        if self.passed:
            return Observation(text="All tests passed.", done=True, reward=1.0)
        return Observation(text=failure_text(result, self.timeout_s), reward=0.0)

    def run(self, meta: dict[str, Any], code: str) -> tuple[ExecResult, str]:
        """One submission in a fresh sandbox: nothing an earlier submission left running survives."""
        self.close()
        self.sandbox = self.sandbox_factory()
        nonce = secrets.token_hex(16)
        self.sandbox.write_file(SOLUTION_FILE, solution_source(meta, code))
        result = self.sandbox.exec(
            runner_command(meta["entry_point"]), timeout_s=self.timeout_s, stdin=runner_input(meta, nonce)
        )
        return result, nonce
