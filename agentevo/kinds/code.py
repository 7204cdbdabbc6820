"""The code kind: a model writes a Python solution; a tool is a pure function whose value is the answer."""

from __future__ import annotations

from collections.abc import Sequence

from agentevo.kinds import KindSpec, raw_action, register_kind
from agentevo.records import Action, Step, Tool, Trajectory


def passing_step(steps: Sequence[Step]) -> list[Step]:
    """A code workflow shows the submission that passed (or the last one)."""
    return [s for s in steps if s.observation.done][-1:] or list(steps[-1:])


def python_block(step: Step) -> str:
    assert step.action is not None
    code = step.action.args.get("code")
    return f"```python\n{code.rstrip()}\n```" if isinstance(code, str) else raw_action(step)


def compile_code(traj: Trajectory) -> object:
    from agentevo.tools.compiler import compile_code

    return compile_code(traj)


def submit_source(tool: Tool) -> Action:
    return Action(name="submit", args={"code": tool.source})


CODE = register_kind(
    KindSpec(
        name="code",
        workflow_steps=passing_step,
        shown_action=python_block,
        compile=compile_code,
        replay_action=submit_source,
        needs_replay=False,
        tool_args=False,
        tools_open_workdir=True,
    )
)
