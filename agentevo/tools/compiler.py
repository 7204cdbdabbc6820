"""The trajectory compiler: a successful episode becomes a parameterised tool, with no LLM involved.

    code   the passing solution becomes the tool (one typed function, the prompt's docstring kept); its test
           is the task's own test program, and its replay submits it to the task again
    os     the shell commands become one script; values from the instruction become parameters
    web    the actions become steps addressed by role and accessible name (not per-page ids); typed values
           from the instruction become parameters

A trajectory that itself called archived tools is not compiled (it reuses, it does not teach).
"""

from __future__ import annotations

import ast
import logging
import re
from dataclasses import dataclass

from agentevo.kinds import kind
from agentevo.records import Provenance, Scope, Task, Tool, Trajectory
from agentevo.tools.candidate import Candidate, Replay
from agentevo.tools.signature import NAME, entry_function

log = logging.getLogger(__name__)

RUN_KEYS = ("run_id", "episode_id")  # per-run bookkeeping the runner adds to a task's meta


class NotCompilable(ValueError):
    """Why a trajectory gives no tool."""


@dataclass
class Compiled:
    candidate: Candidate | None
    reason: str = ""


def compile_trajectory(traj: Trajectory) -> Compiled:
    try:
        return Compiled(compile_or_raise(traj))
    except NotCompilable as exc:
        log.debug("trajectory %s not compiled: %s", traj.id, exc)
        return Compiled(None, str(exc))


def compile_or_raise(traj: Trajectory) -> Candidate:
    if not traj.succeeded:
        raise NotCompilable(f"outcome {traj.outcome}")
    if any(s.action is not None and s.action.name == "call" for s in traj.steps):
        raise NotCompilable("the episode used archived tools")
    spec = kind(traj.task.kind)
    if spec.compile is None:
        raise NotCompilable(f"{spec.name} episodes do not compile into tools")
    return spec.compile(traj)


def replay_task(task: Task) -> Task:
    return task.model_copy(update={"meta": {k: v for k, v in task.meta.items() if k not in RUN_KEYS}})


def provenance(traj: Trajectory) -> Provenance:
    return Provenance(trajectory_ids=(traj.id,), run_id=traj.run_id, model=traj.model, source="compiler")


def candidate(traj: Trajectory, tool: Tool, args: dict[str, object] | None = None) -> Candidate:
    task = traj.task
    return Candidate(
        tool=tool,
        scope=Scope(suite=task.suite, template=task.template_id),
        replays=[
            Replay(task=replay_task(task), args=dict(args or {}), reward=traj.reward, trajectory_id=traj.id)
        ],
        origin="compiler",
    )


def slug(text: str, limit: int = 48) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    name = "_".join(words)[:limit].strip("_")
    if not name or not name[0].isalpha():
        name = f"tool_{name}".strip("_")
    return name


# --- code ----------------------------------------------------------------------------------------------


def passing_submission(traj: Trajectory) -> str:
    for step in reversed(traj.steps):
        action = step.action
        if action is not None and action.name == "submit" and step.observation.done:
            code = action.args.get("code")
            if isinstance(code, str) and code.strip():
                return code
    raise NotCompilable("no passing submission in the trajectory")


def compile_code(traj: Trajectory) -> Candidate:
    meta = traj.task.meta
    entry, prompt, tests = meta.get("entry_point", ""), meta.get("prompt", ""), meta.get("tests", "")
    if not entry or not NAME.match(entry):
        raise NotCompilable(f"entry point {entry!r} is not a tool name")
    if "def check(" not in tests:
        raise NotCompilable("the task has no check(candidate) test program to replay")
    source = solution_module(prompt, passing_submission(traj), entry)
    header = f'"""Compiled from {traj.task.id} (trajectory {traj.id})."""\n\n'
    test_file = (
        f'"""The source task\'s own tests ({traj.task.id}), replayed against the tool."""\n\n'
        f"from tool import {entry}\n\n{tests.strip()}\n\n\ndef test_source_task():\n    check({entry})\n"
    )
    tool = Tool(
        name=entry,
        kind="code",
        description="",
        source=header + source,
        tests=test_file,
        provenance=provenance(traj),
    )
    return candidate(traj, tool)


def solution_module(prompt: str, code: str, entry: str) -> str:
    """The prompt's imports and helpers plus the solution, only definitions kept, the entry documented."""
    stub = parse_or_none(prompt + "    pass\n") if prompt else None
    solution = parse_or_none(code)
    if solution is None or entry_function(solution, entry) is None:
        solution = parse_or_none(prompt + code)  # a bare body that continues the prompt
    if solution is None or entry_function(solution, entry) is None:
        raise NotCompilable(f"the passing code defines no function {entry!r}")
    body = [n for n in solution.body if is_definition(n)]
    if stub is not None:
        defined = {n.name for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        helpers = [n for n in stub.body if is_definition(n) and getattr(n, "name", None) not in defined]
        body = helpers + body
        adopt_stub(entry_function(solution, entry), entry_function(stub, entry))  # type: ignore[arg-type]
    return layout(dedupe_imports(body))


def layout(body: list[ast.stmt]) -> str:
    """Unparse with the blank lines a person expects: imports together, two lines around definitions."""
    imports = ast.Import | ast.ImportFrom
    defs = ast.FunctionDef | ast.ClassDef
    out = ""
    for i, node in enumerate(body):
        if i:
            prev = body[i - 1]
            together = isinstance(node, imports) and isinstance(prev, imports)
            out += "" if together else ("\n\n" if isinstance(node, defs) or isinstance(prev, defs) else "\n")
        out += ast.unparse(ast.fix_missing_locations(node)) + "\n"
    return out


def parse_or_none(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def is_definition(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
        return True
    return isinstance(node, ast.Assign | ast.AnnAssign) and not any(
        isinstance(n, ast.Call) for n in ast.walk(node)
    )


def adopt_stub(fn: ast.FunctionDef, stub: ast.FunctionDef | None) -> None:
    """Give the solution the prompt's docstring and annotations where it dropped them."""
    if stub is None:
        return
    doc = ast.get_docstring(stub)
    if doc and not ast.get_docstring(fn):
        fn.body.insert(0, ast.Expr(ast.Constant(doc)))
    typed = {
        a.arg: a.annotation for a in [*stub.args.args, *stub.args.kwonlyargs] if a.annotation is not None
    }
    for arg in [*fn.args.args, *fn.args.kwonlyargs]:
        if arg.annotation is None and arg.arg in typed:
            arg.annotation = typed[arg.arg]
    if fn.returns is None:
        fn.returns = stub.returns


def dedupe_imports(body: list[ast.stmt]) -> list[ast.stmt]:
    seen: set[str] = set()
    imports, rest = [], []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            key = ast.unparse(node)
            if key not in seen:
                seen.add(key)
                imports.append(node)
        else:
            rest.append(node)
    return imports + rest
