"""The code kind: a model writes a Python solution; a tool is a pure function whose value is the answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentevo.kinds import KindSpec, raw_action, register_kind
from agentevo.records import Action, Observation, Step, Tool, ToolSpec, Trajectory

if TYPE_CHECKING:
    from agentevo.constrain import Constraint


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


def reply_grammar(observation: Observation, tools: Sequence[ToolSpec]) -> Constraint:
    from agentevo.constrain.grammars import code_reply

    return code_reply(observation, tools)


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
        reply_grammar=reply_grammar,
    )
)
