"""Preference pairs: a success and a failure on the same task (or the same template) as chosen / rejected.

The prompt is what both conversations share: at least the system message, demonstrations and task message,
and further every turn on which they agree (a failure and a success that made the same first attempt
diverge only after it). Pairs whose prompts differ — two tasks of one template, or different recalled
experience — take the chosen conversation's prompt; the data card counts them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentevo.records import Message
from agentevo.train.conversation import Conversation
from agentevo.train.formats import chat_messages

PairBy = Literal["task", "template"]


@dataclass(frozen=True)
class Pair:
    chosen: Conversation
    rejected: Conversation
    row: dict[str, Any]
    shared_prompt: bool  # both conversations really had this prompt

    @property
    def group(self) -> str:
        return self.chosen.group


def make_pairs(convs: Sequence[Conversation], pair_by: PairBy = "task") -> list[Pair]:
    """Every failure gets a success of its group and every success a failure (round robin), preferring a
    partner that saw the very same prompt."""
    wins: dict[str, list[Conversation]] = defaultdict(list)
    losses: dict[str, list[Conversation]] = defaultdict(list)
    for c in convs:
        key = c.task_id if pair_by == "task" else c.group
        (wins if c.succeeded else losses)[key].append(c)
    pairs = []
    for key in sorted(wins.keys() & losses.keys()):
        s, f = wins[key], losses[key]
        for i in range(max(len(s), len(f))):
            if len(f) >= len(s):
                pairs.append(pair(partner(s, f[i], i), f[i]))
            else:
                pairs.append(pair(s[i], partner(f, s[i], i)))
    return pairs


def partner(candidates: list[Conversation], other: Conversation, i: int) -> Conversation:
    same = [c for c in candidates if c.prompt == other.prompt]
    pool = same or candidates
    return pool[i % len(pool)]


def pair(chosen: Conversation, rejected: Conversation) -> Pair:
    a, b = chat_messages(chosen, "trl"), chat_messages(rejected, "trl")
    n_prompt = len(chosen.prompt)
    shared = a[:n_prompt] == b[:n_prompt]
    cut = shared_prefix(a, b, n_prompt) if shared else n_prompt
    row = {"prompt": a[:cut], "chosen": a[cut:], "rejected": b[cut:]}
    return Pair(chosen, rejected, row, shared)


def shared_prefix(a: list[Message], b: list[Message], start: int) -> int:
    """The longest common prefix (at least `start` messages) that ends on a user or tool message and leaves
    both conversations a reply to make."""
    cut = start
    i = start
    while i + 1 < min(len(a), len(b)) and a[i] == b[i] and a[i + 1] == b[i + 1]:
        i += 2  # an identical reply and the identical observation after it
        cut = i
    return cut
