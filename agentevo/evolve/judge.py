"""Label-free success: an LLM judge reads a trajectory and decides whether the task was done (as AWM and
ReasoningBank do). An unparsable verdict counts as failure and is recorded as such."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentevo.agent import prompts
from agentevo.models.calls import ask
from agentevo.protocols import Model
from agentevo.records import Trajectory

VERDICT = re.compile(r"VERDICT:\s*(SUCCESS|FAILURE)", re.I)
OBS_CHARS = 600
MAX_STEPS = 12


@dataclass(frozen=True)
class Verdict:
    success: bool
    parsed: bool
    reply: str
    tokens: int = 0  # the judge call's prompt and reply tokens


def describe_steps(trajectory: Trajectory) -> list[dict[str, str]]:
    shown = []
    for step in trajectory.steps[-MAX_STEPS:]:
        action = step.action.raw.strip() if step.action else f"(no action: {step.error})"
        obs = step.observation.error or step.observation.text
        shown.append({"action": action[:OBS_CHARS], "observation": (obs or "(no output)")[-OBS_CHARS:]})
    return shown


class LLMJudge:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.name = model.name

    def judge(self, trajectory: Trajectory) -> Verdict:
        messages = [{"role": "system", "content": prompts.render("judge", "system.md")}]
        for user, assistant in prompts.demonstrations("judge"):
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        messages.append(
            {
                "role": "user",
                "content": prompts.render(
                    "judge",
                    "task.md",
                    instruction=trajectory.task.instruction,
                    steps=describe_steps(trajectory),
                ),
            }
        )
        from agentevo.constrain import judge_reply

        reply = ask(self.model, messages, max_tokens=160, temperature=0.0, constraint=judge_reply())
        match = VERDICT.search(reply.text)
        tokens = reply.tokens_in + reply.tokens_out
        if match is None:
            return Verdict(success=False, parsed=False, reply=reply.text, tokens=tokens)
        success = match.group(1).upper() == "SUCCESS"
        return Verdict(success=success, parsed=True, reply=reply.text, tokens=tokens)


@dataclass
class Agreement:
    model: str
    n: int = 0
    agree: int = 0
    false_positive: int = 0
    false_negative: int = 0
    unparsed: int = 0

    def add(self, verdict: Verdict, truth: bool) -> None:
        self.n += 1
        self.agree += verdict.success == truth
        self.false_positive += verdict.success and not truth
        self.false_negative += truth and not verdict.success
        self.unparsed += not verdict.parsed

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "n": self.n,
            "agree": self.agree,
            "rate": self.rate,
            "false_positive": self.false_positive,
            "false_negative": self.false_negative,
            "unparsed": self.unparsed,
        }
