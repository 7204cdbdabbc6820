"""The OS environment: AgentBench's OS-interaction protocol in one of our sandboxes.

A task's `meta` holds the AgentBench task config with every script resolved to `{language, code}`:
`init` (scripts run, in order, in the fresh sandbox before the agent starts), `start` (a script left
running in the background), and `evaluation`: `match` (`{answer}` exact after strip, or `{regex}`) or
`check` (a list of scripts; `None` means the `example` script). The agent replies
"Think: … Act: bash" with a ```bash block, "Act: answer(…)" or "Act: finish". Command output longer than
800 characters is cut to 780 plus "[truncated because the output is too long]", as AgentBench does.

Check chains run as AgentBench runs them: params start as [answer]; each script gets all params as argv
and its stdout is appended; any non-zero exit fails the task.

The agent's commands cannot edit or pre-empt the checker: before the checks, every process the agent
started (anything not running when the task was set up, nor descended from such a process) is killed, so
nothing it left in the background can rewrite state, signal or trace the checks while they run. The checks
run under `env -i` with a fixed PATH, HOME and locale, in `/` (not the agent-writable workdir), and Python
checks as `python3 -I`, so neither files the agent drops into /work (`json.py`, a user-site
`usercustomize.py`, `.pth` files) nor environment variables reach them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agentevo.envs.replies import fenced_blocks
from agentevo.envs.sandboxed import SandboxedEnvironment
from agentevo.errors import EnvError, FormatError
from agentevo.records import Action, ExecResult, Observation, Task

OUTPUT_LIMIT = 800
OUTPUT_KEEP = 780
TRUNCATED = "\n[truncated because the output is too long]"
INIT_TIMEOUT_S = 60.0
CWD_FILE = "/tmp/.agentevo-cwd"
# Runs the agent's bash in the directory where its previous command ended (as in AgentBench's interactive
# shell), with stderr interleaved into stdout as a terminal shows them.
SHELL = (
    f'cd "$(cat {CWD_FILE} 2>/dev/null || echo "$HOME")" 2>/dev/null; eval "$1" 2>&1; __rc=$?; '
    f"pwd > {CWD_FILE} 2>/dev/null; exit $__rc"
)
FORMAT_HELP = (
    "Reply with one line `Think: …` and then exactly one action: `Act: bash` followed by a ```bash code "
    "block, `Act: answer(YOUR ANSWER)`, or `Act: finish`."
)
ACT = re.compile(r"Act:\s*(.+)")
THINK = re.compile(r"Think:\s*(.+)")
LANGUAGES = ("bash", "python")

CHECK_ENV = ("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
# Lists the sandbox's processes as `pid:starttime` (mode `list`) or kills every process that is neither in
# the given list nor descended from one of them, nor this script or its ancestors (mode `kill`). pid 1 is
# never killed and never counts as a kept ancestor: orphans are re-parented to it.
PROCESSES = r"""
import os, signal, sys, time

def stat(pid):
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), fields[19]

def ancestors():
    seen, pid = {os.getpid()}, os.getpid()
    while pid > 1:
        pid = stat(pid)[1]
        seen.add(pid)
    return seen

def table():
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                procs[int(name)] = stat(name)
            except (OSError, IndexError, ValueError):
                pass
    return procs

mode, keep = sys.argv[1], set(filter(None, sys.argv[2].split(",")))
mine = ancestors()
if mode == "list":
    print(",".join(f"{pid}:{st[2]}" for pid, st in table().items() if pid not in mine and pid != 1))
    sys.exit(0)
for _ in range(100):
    procs, victims = table(), []
    for pid, (state, ppid, start) in procs.items():
        if pid in mine or pid == 1 or state == "Z":
            continue
        cur, kept = pid, False
        while cur > 1 and cur in procs and cur not in mine:
            if f"{cur}:{procs[cur][2]}" in keep:
                kept = True
                break
            cur = procs[cur][1]
        if not kept:
            victims.append(pid)
    if not victims:
        sys.exit(0)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.01)
sys.exit(1)
"""

Script = dict[str, str]


def truncate(output: str) -> str:
    return output[:OUTPUT_KEEP] + TRUNCATED if len(output) > OUTPUT_LIMIT else output


def parse_action(text: str) -> Action:
    """Read AgentBench's reply format; the last `Act:` line that names an action wins."""
    thought = "\n".join(THINK.findall(text))
    for act in reversed(ACT.findall(text)):
        verb = act.strip().lower()
        if verb.startswith("bash"):
            blocks = [b.strip("\n") for b in fenced_blocks(text, ("bash", "sh", "shell")) if b.strip()]
            if not blocks:
                raise FormatError(f"`Act: bash` needs the commands in a ```bash code block. {FORMAT_HELP}")
            return Action(name="bash", args={"script": "\n\n".join(blocks)}, raw=text, thought=thought)
        if verb.startswith("finish"):
            return Action(name="finish", raw=text, thought=thought)
        if verb.startswith("answer"):
            content = act.strip()[6:]
            left, right = content.find("("), content.rfind(")")
            if left == -1 or right < left:
                continue
            answer = content[left + 1 : right]
            return Action(name="answer", args={"answer": answer}, raw=text, thought=thought)
    raise FormatError(f"I could not find an action in your reply. {FORMAT_HELP}")


def script_argv(script: Script | str, params: Sequence[str] = ()) -> list[str]:
    """How AgentBench runs a script: `bash -c CODE -- PARAMS…` or `python3 -c CODE PARAMS…`."""
    if isinstance(script, str):
        script = {"language": "bash", "code": script}
    language, code = script.get("language", "bash"), script["code"]
    if language == "bash":
        return ["bash", "-c", code, *(["--", *params] if params else [])]
    if language == "python":
        return ["python3", "-c", code, *params]
    raise EnvError(f"scripts in {language!r} are not supported (use bash or python)")


def check_argv(script: Script | str, params: Sequence[str] = ()) -> list[str]:
    """A check script as the checker runs it: clean environment, cwd `/`, Python isolated (`-I`)."""
    argv = script_argv(script, params)
    if argv[0] == "python3":
        argv = ["python3", "-I", *argv[1:]]
    return ["env", "-i", "-C", "/", *CHECK_ENV, *argv]


def processes_argv(mode: str, keep: str = "") -> list[str]:
    return ["env", "-i", "-C", "/", *CHECK_ENV, "python3", "-I", "-S", "-c", PROCESSES, mode, keep]


def as_scripts(value: Any) -> list[Script | str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class OSEnvironment(SandboxedEnvironment):
    kind = "os"
    baseline = ""  # the processes the task's own scripts left running, as `pid:starttime,…`

    # --- episode ----------------------------------------------------------------------------------------
    def reset(self, task: Task) -> Observation:
        self.begin(task, {"commands": 0})
        self.sandbox = self.sandbox_factory()
        for n, script in enumerate(as_scripts(task.meta.get("init"))):
            result = self.sandbox.exec(script_argv(script), timeout_s=max(self.timeout_s, INIT_TIMEOUT_S))
            if not result.ok:
                raise EnvError(f"task {task.id}: init script {n + 1} failed: {failure(result)}")
        start = task.meta.get("start")
        if start:
            argv = ["bash", "-c", 'setsid -f "$@" >/dev/null 2>&1 </dev/null', "start", *script_argv(start)]
            result = self.sandbox.exec(argv, timeout_s=self.timeout_s)
            if not result.ok:
                raise EnvError(f"task {task.id}: start script failed: {failure(result)}")
        listed = self.sandbox.exec(processes_argv("list"), timeout_s=self.timeout_s)
        if not listed.ok:
            raise EnvError(f"task {task.id}: could not list the sandbox's processes: {failure(listed)}")
        self.baseline = listed.stdout.strip()
        return Observation(text=task.instruction)

    def parse_action(self, text: str) -> Action:
        return parse_action(text)

    def step(self, action: Action) -> Observation:
        if self.task is None or self.sandbox is None:
            return Observation(text="", error="no task: reset first")
        if action.name == "bash":
            return self.run_bash(str(action.args.get("script", "")))
        if action.name in ("answer", "finish"):
            answer = action.args.get("answer") if action.name == "answer" else None
            self.passed = self.evaluate(answer)
            return Observation(text="", done=True, reward=1.0 if self.passed else 0.0)
        return Observation(text="", error=f"unknown action {action.name!r}. {FORMAT_HELP}")

    def run_bash(self, script: str) -> Observation:
        assert self.sandbox is not None
        result = self.sandbox.exec(["bash", "-c", SHELL, "bash", script], timeout_s=self.timeout_s)
        self.details["commands"] += 1
        output = result.stdout + result.stderr
        if result.timed_out:
            output += f"\n[the command was killed after {self.timeout_s:g} s]"
        elif result.killed:
            output += f"\n[the command was killed: {result.killed}]"
        return Observation(text=truncate(output))

    # --- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, answer: str | None) -> bool:
        assert self.task is not None and self.sandbox is not None
        evaluation = self.task.meta.get("evaluation") or {}
        self.details["answer"] = answer
        if "match" in evaluation:
            return self.match(evaluation["match"], answer)
        if "check" in evaluation:
            return self.check(as_scripts(evaluation["check"]), evaluation.get("example"), answer)
        raise EnvError(f"task {self.task.id}: evaluation needs `match` or `check`")

    def match(self, spec: str | dict[str, Any], answer: str | None) -> bool:
        self.details["evaluation"] = "match"
        if answer is None:
            return False
        if isinstance(spec, str):
            spec = {"answer": spec}
        if spec.get("strip", True):
            answer = answer.strip()
        if "answer" in spec:
            return answer == str(spec["answer"])
        if "regex" in spec:
            return re.search(str(spec["regex"]), answer) is not None
        raise EnvError("a `match` evaluation needs `answer` or `regex`")

    def check(self, scripts: list[Any], example: Any, answer: str | None) -> bool:
        assert self.sandbox is not None
        self.details["evaluation"] = "check"
        params = [str(answer)]
        trace: list[dict[str, Any]] = self.details.setdefault("checks", [])
        timeout = max(self.timeout_s, 30.0)
        stopped = self.sandbox.exec(processes_argv("kill", self.baseline), timeout_s=timeout)
        self.details["agent_processes_stopped"] = stopped.ok
        if not stopped.ok:  # something of the agent's kept running: the checks could not be trusted
            return False
        for script in scripts:
            script = example if script is None else script
            if script is None:
                raise EnvError("a `null` check needs an `example` script")
            result = self.sandbox.exec(check_argv(script, params), timeout_s=timeout)
            trace.append({"exit_code": result.exit_code, "stdout": result.stdout[-200:]})
            if not result.ok:
                return False
            params.append(result.stdout)
        return True


def failure(result: ExecResult) -> str:
    if result.timed_out:
        return "timed out"
    text = (result.stderr or result.stdout).strip().splitlines()
    return f"exit {result.exit_code}" + (f": {text[-1][:200]}" if text else "")
