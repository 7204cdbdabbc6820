"""A trajectory as the conversation its model saw: the prompt (system, demonstrations, task message), then
one turn per step (the reply, the action parsed from it, the observation shown back).

The agent graph appends exactly one assistant reply and one user observation per step, so the prompt is
everything before the last 2 × steps messages; `details["prompt"]` (written by the recall node) says which
demonstrations were built in and which were recalled experience, and what the task message was without
recalled notes, so `strip` can show a trajectory as it would have been without memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agentevo.records import Action, Message, Trajectory

MemoryMode = Literal["inline", "strip"]


class Malformed(ValueError):
    """A stored trajectory whose messages do not line up with its steps."""


@dataclass(frozen=True)
class Turn:
    reply: str  # the assistant message exactly as the model wrote it
    action: Action | None
    observation: str  # the user message shown after it
    trainable: bool  # False for replies that produced no action or an error observation

    @property
    def tool_call(self) -> tuple[str, dict[str, Any]] | None:
        """(tool name, arguments) when the step called an offered tool."""
        if self.action is None or self.action.name != "call":
            return None
        args = self.action.args.get("args", {})
        return str(self.action.args.get("tool", "")), args if isinstance(args, dict) else {"value": args}

    @property
    def text_around_call(self) -> str:
        """The reply without the `call NAME {...}` line: the thought that came with a tool call."""
        raw = self.action.raw if self.action is not None else ""
        return self.reply.replace(raw, "", 1).strip() if raw and raw != self.reply else ""


@dataclass(frozen=True)
class Conversation:
    trajectory_id: str
    run_id: str
    task_id: str
    template_id: str
    suite: str
    model: str
    outcome: str
    reward: float
    seed: int | None
    prompt: tuple[Message, ...]  # system, demonstrations, task message
    demos: int  # demonstration pairs in the prompt (their answers are context, not the agent's actions)
    turns: tuple[Turn, ...]
    tools: tuple[dict[str, Any], ...] = ()  # ToolSpec dicts offered to the model
    recalled: bool = False  # the prompt still holds recalled experience (demonstrations or notes)
    layout_known: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"

    @property
    def group(self) -> str:
        return self.template_id or self.task_id


def from_trajectory(traj: Trajectory, memory: MemoryMode = "inline") -> Conversation:
    messages = [dict(m) for m in traj.messages]
    n_prompt = len(messages) - 2 * len(traj.steps)
    if not traj.steps or n_prompt < 2 or messages[n_prompt - 1].get("role") != "user":
        raise Malformed(f"{traj.id}: {len(messages)} messages do not fit {len(traj.steps)} steps")
    layout = traj.details.get("prompt") or {}
    if layout and layout.get("task_message") != n_prompt - 1:
        raise Malformed(f"{traj.id}: the recorded task message is not where the steps say it is")
    prompt, demos, recalled = messages[:n_prompt], (n_prompt - 2) // 2, bool(layout) and has_recalled(layout)
    if memory == "strip" and recalled:
        prompt, demos = strip_recalled(prompt, layout), layout["builtin_demos"]
        recalled = False
    return Conversation(
        trajectory_id=traj.id,
        run_id=traj.run_id,
        task_id=traj.task.id,
        template_id=traj.task.template_id,
        suite=traj.task.suite,
        model=traj.model,
        outcome=traj.outcome,
        reward=traj.reward,
        seed=traj.task.meta.get("seed"),
        prompt=tuple(prompt),
        demos=demos,
        turns=tuple(turns(traj, messages, n_prompt)),
        tools=tuple(layout.get("tools", ())),
        recalled=recalled,
        layout_known=bool(layout),
    )


def has_recalled(layout: dict[str, Any]) -> bool:
    return bool(layout.get("recalled_demos") or layout.get("notes"))


def strip_recalled(prompt: list[Message], layout: dict[str, Any]) -> list[Message]:
    """The prompt without recalled demonstration turns and with the task message as it was without notes."""
    start = 1 + 2 * int(layout["builtin_demos"])
    stop = start + 2 * int(layout["recalled_demos"])
    task = {**prompt[-1], "content": layout.get("task_message_without_notes", prompt[-1]["content"])}
    return [*prompt[:start], *prompt[stop:-1], task]


def turns(traj: Trajectory, messages: list[Message], n_prompt: int) -> list[Turn]:
    out = []
    for i, step in enumerate(traj.steps):
        reply = messages[n_prompt + 2 * i]
        if reply.get("role") != "assistant":
            raise Malformed(f"{traj.id}: message {n_prompt + 2 * i} should be the reply of step {i}")
        observation = messages[n_prompt + 2 * i + 1].get("content", "")
        ok = step.action is not None and step.observation.error is None
        out.append(Turn(str(reply.get("content", "")), step.action, str(observation), ok))
    return out
