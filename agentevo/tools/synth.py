"""The LLM synthesiser: any model proposes a tool and its tests from one or more trajectories, in a strict
format learned from a demonstration turn; when the gate refuses it (or the reply cannot be read), the
reason goes back to the model, for a bounded number of attempts.

Self-written tests are never enough on their own: the gate's stub check and, where the episodes allow it,
a replay of the source task are harness-owned (TL-03).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2

from agentevo.agent.prompts import parse_turns
from agentevo.errors import FormatError, ModelError, ToolRejected
from agentevo.kinds import kind as kind_spec
from agentevo.models.calls import ask
from agentevo.protocols import Model
from agentevo.records import Message, Provenance, Scope, Tool, Trajectory
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.candidate import Candidate, Replay
from agentevo.tools.compiler import replay_task
from agentevo.tools.registry import RejectionRow

log = logging.getLogger(__name__)

PROMPTS = Path(__file__).parent / "prompts"
FIELD = re.compile(r"^\s*(NAME|KIND|ARGS)\s*:\s*(.+?)\s*$", re.M)
FILE_BLOCK = re.compile(
    r"(?:^[#*\s]*(?P<head>(?:test_)?tool\.py)[*:\s]*\n)?"  # a heading line naming the file, or
    r"```[ \t]*(?:python|py)?[ \t]*(?P<label>(?:test_)?tool\.py)?"  # the name after the fence's language
    r"[ \t]*\n(?P<body>.*?)```",
    re.S | re.M,
)
OBSERVATION_CHARS = 300
ARG_CHARS = 600


@functools.cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(PROMPTS)), undefined=jinja2.StrictUndefined)


def kind_context(kind: str) -> dict[str, Any]:
    return {"kind": kind, "tool_args": kind_spec(kind).tool_args}


def render(name: str, **context: Any) -> str:
    return templates().get_template(name).render(**context).strip()


@dataclass
class Proposal:
    name: str
    kind: str
    source: str
    tests: str
    args: dict[str, Any]


def parse_proposal(text: str, kind: str) -> Proposal:
    fields = dict(FIELD.findall(text))
    files: dict[str, str] = {}
    for m in FILE_BLOCK.finditer(text):
        label = (
            m.group("label") or m.group("head") or ("tool.py" if "tool.py" not in files else "test_tool.py")
        )
        files.setdefault(label, m.group("body"))
    missing = [k for k in ("NAME",) if k not in fields] + [
        f for f in ("tool.py", "test_tool.py") if f not in files
    ]
    if missing:
        raise FormatError(f"Your reply has no {', '.join(missing)}.")
    chosen = fields.get("KIND", kind).strip().lower()
    if chosen != kind:
        raise FormatError(f"These episodes need a {kind} tool, not KIND: {chosen}.")
    args: dict[str, Any] = {}
    if kind_spec(kind).tool_args:
        try:
            args = json.loads(fields.get("ARGS", ""))
        except json.JSONDecodeError:
            raise FormatError("ARGS must be a JSON object on one line.") from None
        if not isinstance(args, dict):
            raise FormatError("ARGS must be a JSON object.")
    return Proposal(fields["NAME"].strip().strip("`"), kind, files["tool.py"], files["test_tool.py"], args)


def step_lines(traj: Trajectory) -> list[dict[str, str]]:
    lines = []
    for s in traj.steps:
        if s.action is None:
            continue
        args = s.action.args
        shown = args["code"] if isinstance(args.get("code"), str) else json.dumps(args, ensure_ascii=False)
        fence = "```python" if isinstance(args.get("code"), str) else "```"
        action = (
            f"{s.action.name}\n{fence}\n{clip(shown, ARG_CHARS)}\n```"
            if "\n" in shown
            else f"{s.action.name} {shown}"
        )
        target = s.observation.meta.get("target")
        if target:
            action += f"  (target: {json.dumps(target, ensure_ascii=False)})"
        obs = s.observation.error or s.observation.text
        lines.append({"action": action, "observation": clip(obs.strip(), OBSERVATION_CHARS)})
    return lines


def ending(traj: Trajectory) -> Literal["", "finish", "answer-output"]:
    """How an OS episode ended after its commands: the replay of a tool made from it ends the same way."""
    last = next((s.action.name for s in reversed(traj.steps) if s.action is not None), "")
    return {"finish": "finish", "answer": "answer-output"}.get(last, "")  # type: ignore[return-value]


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + " …"


class LLMSynthesiser:
    def __init__(
        self, model: Model, archive: FileToolArchive, *, attempts: int = 3, max_tokens: int = 1200
    ) -> None:
        self.model = model
        self.archive = archive
        self.attempts = attempts
        self.max_tokens = max_tokens

    def messages(self, trajectories: Sequence[Trajectory]) -> list[Message]:
        kind = trajectories[0].task.kind
        messages: list[Message] = [{"role": "system", "content": render("system.md")}]
        for user, assistant in parse_turns((PROMPTS / "demo.md").read_text()):
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        episodes = [
            {
                "outcome": "succeeded" if t.succeeded else t.outcome,
                "instruction": t.task.instruction,
                "steps": step_lines(t),
            }
            for t in trajectories
        ]
        text = render("episodes.md", episodes=episodes, **kind_context(kind))
        messages.append({"role": "user", "content": text})
        return messages

    def synthesise(self, trajectories: Sequence[Trajectory]) -> Tool | None:
        """Propose, gate, repair; the registered tool, or None when every attempt was refused."""
        if not trajectories:
            return None
        from agentevo.constrain import synth_reply

        kind = trajectories[0].task.kind
        messages = self.messages(trajectories)
        for attempt in range(1, self.attempts + 1):
            try:
                reply = ask(
                    self.model,
                    messages,
                    max_tokens=self.max_tokens,
                    temperature=0.0,
                    constraint=synth_reply(kind, tool_args=kind_spec(kind).tool_args),
                )
            except ModelError as exc:
                log.warning("tool synthesis: the model failed: %s", exc)
                return None
            messages.append({"role": "assistant", "content": reply.text})
            try:
                proposal = parse_proposal(reply.text, kind)
                return self.archive.submit(self.candidate(proposal, trajectories)).tool
            except FormatError as exc:
                self.record_format_error(exc.feedback, kind, trajectories)
                problem = f"I could not read your reply: {exc.feedback}"
            except ToolRejected as exc:
                problem = f"The validation gate refused the tool ({exc.reason})."
            log.info("tool synthesis attempt %d refused: %s", attempt, problem)
            text = render("repair.md", problem=problem, **kind_context(kind))
            messages.append({"role": "user", "content": text})
        return None

    def candidate(self, p: Proposal, trajectories: Sequence[Trajectory]) -> Candidate:
        tasks = [t.task for t in trajectories]
        tool = Tool(
            name=p.name,
            kind=p.kind,  # type: ignore[arg-type]
            description="",
            source=p.source,
            tests=p.tests,
            provenance=Provenance(
                trajectory_ids=tuple(t.id for t in trajectories),
                run_id=trajectories[0].run_id,
                model=self.model.name,
                source="llm",
            ),
        )
        templates_ = {t.template_id for t in tasks}
        scope = Scope(suite=tasks[0].suite, template=templates_.pop() if len(templates_) == 1 else "")
        return Candidate(tool=tool, scope=scope, replays=self.replays(p, trajectories), origin="llm")

    def replays(self, p: Proposal, trajectories: Sequence[Trajectory]) -> list[Replay]:
        """Harness-owned checks the episodes allow: the source task itself, solved by the tool."""
        t = trajectories[0]
        if not t.succeeded:
            return []
        if not kind_spec(p.kind).tool_args:  # called as itself on the source task: its name must fit it
            if t.task.meta.get("entry_point") != p.name or "def check(" not in t.task.meta.get("tests", ""):
                return []
            return [Replay(task=replay_task(t.task), reward=t.reward, trajectory_id=t.id)]
        return [
            Replay(
                task=replay_task(t.task), args=p.args, reward=t.reward, trajectory_id=t.id, finish=ending(t)
            )
        ]

    def record_format_error(self, feedback: str, kind: str, trajectories: Sequence[Trajectory]) -> None:
        self.archive.registry.add(
            RejectionRow(
                name="(unreadable)",
                kind=kind,
                code="format",
                reason=feedback,
                origin="llm",
                trajectory_ids=[t.id for t in trajectories],
            )
        )
