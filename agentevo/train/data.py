"""Reading exported files back for training, and tokenising conversations with completion-only labels.

Whatever the export format, the trainer sees what the agent's model would see: system/user/assistant
messages, a tool call as the agent's own `call NAME {json}` line, a tool result as the user message it was.
Labels cover the assistant replies only (OpenAI `weight: 0` replies and demonstration answers excluded), found
by rendering the chat template on growing prefixes of the conversation, so no template markers are needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentevo.errors import ExportError
from agentevo.records import Message
from agentevo.train.card import read_card

IGNORE = -100
DataKind = Literal["sft", "dpo"]


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE where no loss is taken

    @property
    def targets(self) -> int:
        return sum(t != IGNORE for t in self.labels)


def resolve_data(path: Path) -> Path:
    """FILE itself, or FILE's train part when FILE names an export (`out.jsonl` → `out.train.jsonl`)."""
    if path.is_file():
        return path
    train = path.with_name(path.name.removesuffix(".jsonl") + ".train.jsonl")
    if train.is_file():
        return train
    raise ExportError(f"no training data at {path} (nor {train.name})")


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ExportError(f"{path}:{n}: a row must be a JSON object")
        rows.append(row)
    if not rows:
        raise ExportError(f"{path} holds no examples")
    return rows


def data_kind(rows: list[dict[str, Any]], path: Path) -> DataKind:
    first = rows[0]
    if {"prompt", "chosen", "rejected"} <= first.keys():
        return "dpo"
    if "messages" in first or "conversations" in first:
        return "sft"
    raise ExportError(f"{path}: rows have neither messages, conversations nor prompt/chosen/rejected")


def train_groups(path: Path) -> list[str]:
    """The templates (or tasks) the data card says are in the training data, for leakage checks later."""
    card = read_card(path)
    return list(card["split"]["train_groups"]) if card else []


# --- one normal form: agent messages with a train flag per message ---------------------------------------


def agent_messages(row: dict[str, Any]) -> tuple[list[Message], list[bool]]:
    """(messages, trainable) in the agent's own message shape from an openai, trl or sharegpt row."""
    if "conversations" in row:
        msgs = [from_sharegpt(t) for t in row["conversations"]]
    else:
        msgs = [dict(m) for m in row["messages"]]
    out, train = [], []
    for m in msgs:
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"unknown message role {role!r}")
        out.append({"role": "user" if role == "tool" else role, "content": message_text(m)})
        train.append(role == "assistant" and m.get("weight", 1) != 0)
    return out, train


def as_agent_messages(messages: list[Message]) -> list[Message]:
    return [
        {"role": "user" if m["role"] == "tool" else m["role"], "content": message_text(m)} for m in messages
    ]


def from_sharegpt(turn: dict[str, Any]) -> Message:
    role = {"system": "system", "human": "user", "gpt": "assistant", "observation": "tool"}.get(turn["from"])
    if turn["from"] == "function_call":
        call = json.loads(turn["value"])
        fn = {"name": call["name"], "arguments": call.get("arguments", {})}
        return {"role": "assistant", "content": "", "tool_calls": [{"function": fn}]}
    return {"role": role or turn["from"], "content": turn["value"]}


def message_text(m: Message) -> str:
    """The content, with any tool call written the way the agent writes one."""
    text = m.get("content") or ""
    for call in m.get("tool_calls") or ():
        fn = call.get("function", call)
        args = fn.get("arguments", {})
        args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        text = (text + "\n" if text else "") + f"call {fn['name']} {args}"
    return text


# --- tokenising with completion-only labels --------------------------------------------------------------


def tokenize(tokenizer: Any, messages: list[Message], trainable: list[bool], max_length: int) -> Example:
    """Token ids of the rendered conversation; labels only on trainable assistant replies (with their end
    token). Longer conversations lose their tail at max_length."""
    text, spans = render_with_spans(tokenizer, messages, trainable)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"][:max_length], enc["offset_mapping"][:max_length]
    labels = [
        tok if in_spans(start, end, spans) else IGNORE for tok, (start, end) in zip(ids, offsets, strict=True)
    ]
    return Example(input_ids=list(ids), labels=labels)


def render_with_spans(
    tokenizer: Any, messages: list[Message], trainable: list[bool]
) -> tuple[str, list[tuple[int, int]]]:
    spans = []
    for i, (m, train) in enumerate(zip(messages, trainable, strict=True)):
        if not train or m["role"] != "assistant":
            continue
        head = render(tokenizer, messages[:i], generation_prompt=True)
        whole = render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not whole.startswith(head):
            raise ExportError("the chat template does not render conversations prefix by prefix")
        spans.append((len(head), len(whole.rstrip())))
    return render(tokenizer, messages, generation_prompt=False), spans


def render(tokenizer: Any, messages: list[Message], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def in_spans(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return end > start and any(a <= start < b for a, b in spans)
