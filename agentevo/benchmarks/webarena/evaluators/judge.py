"""The judge behind fuzzy_match and the unachievable-task ("N/A") rule.

WebArena's judge was `gpt-4-1106-preview`, which is no longer served; here any agentevo model string can
judge (`environment.options.judge`, `--judge`), with the original protocol: the judge grades a student
answer against the reference and must conclude correct / incorrect / partially correct (only "correct"
passes; a reply with no verdict scores 0, as BrowserGym counts the original's assertion), and for N/A tasks
says whether the reported reason is the "same" as the actual one or "different".

With no judge configured, `RuleJudge` scores instead, by a rule anyone can reproduce: fuzzy_match passes
when every reference item, normalised like the other string rules, is a substring of the normalised answer;
an N/A task passes only on the answer "N/A" itself (a reason cannot be judged without a model). The judge's
name ("rule:must-include" or the model string) is recorded in every score's details and the run manifest.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from agentevo.benchmarks.webarena.evaluators.text import clean

RULE = "rule:must-include"
FUZZY_PROMPT = (
    "Help a teacher grade a student's answer to a question. The student may word the answer differently; "
    "what matters is whether it means the same as the reference answer.\n"
    "question: {intent}\n"
    "reference answer: {reference}\n"
    "every 'N/A' you see is a special value meaning 'not achievable'\n"
    "student answer: {pred}\n"
    "Conclude your judgement with correct/incorrect/partially correct."
)
UA_PROMPT = (
    "task: {intent}\n"
    "actual unachievable reason: {reason}\n"
    "reported unachievable reason: {pred}\n"
    "The task above cannot be done, for the reason given as 'actual unachievable reason'. "
    "Someone tried it, failed, and gave the reason listed as 'reported unachievable reason'. "
    "Compare the two reasons and decide whether the reported one agrees with the actual one, "
    "even if only implicitly. If it does, reply 'same'; otherwise reply 'different'."
)


class Judge(Protocol):
    name: str

    def fuzzy(
        self, pred: str, references: list[str], intent: str, *, joined: bool
    ) -> tuple[float, list[str]]: ...
    def unachievable(self, pred: str, reason: str, intent: str) -> tuple[float, str]: ...


class RuleJudge:
    name = RULE

    def fuzzy(
        self, pred: str, references: list[str], intent: str, *, joined: bool
    ) -> tuple[float, list[str]]:
        missing = [r for r in references if clean(r) not in clean(pred)]
        return (0.0 if missing else 1.0), [f"not in the answer: {r!r}" for r in missing]

    def unachievable(self, pred: str, reason: str, intent: str) -> tuple[float, str]:
        return 0.0, "no judge model: only the answer 'N/A' passes an unachievable task"


class LLMJudge:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = model.name

    def ask(self, text: str) -> str:
        messages = [
            {"role": "system", "content": "You are a helpful assistant"},
            {"role": "user", "content": text},
        ]
        return self.model.complete(messages, temperature=0.0, max_tokens=768).text.lower()

    def fuzzy(
        self, pred: str, references: list[str], intent: str, *, joined: bool
    ) -> tuple[float, list[str]]:
        refs = [", ".join(references)] if joined else references
        score, verdicts = 1.0, []
        for ref in refs:
            reply = self.ask(FUZZY_PROMPT.format(intent=intent, reference=ref, pred=pred))
            passed = "correct" in reply and "incorrect" not in reply and "partially correct" not in reply
            score *= 1.0 if passed else 0.0
            verdicts.append(f"{ref!r}: {'correct' if passed else 'not correct'} ({reply.strip()[-80:]!r})")
        return score, verdicts

    def unachievable(self, pred: str, reason: str, intent: str) -> tuple[float, str]:
        reply = self.ask(UA_PROMPT.format(intent=intent, reason=reason, pred=pred))
        passed = "different" not in reply and "same" in reply
        return (1.0 if passed else 0.0), reply.strip()[-80:]


@functools.cache
def judge_for(name: str | None) -> Judge:
    """The judge for a model string (cached: a local judge model loads once per process)."""
    if not name or name == RULE:
        return RuleJudge()
    from agentevo.config import ModelConfig
    from agentevo.models import load_model

    return LLMJudge(load_model(ModelConfig(name=name, temperature=0.0, max_tokens=768)))
