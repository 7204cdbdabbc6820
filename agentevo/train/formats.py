"""Conversations as rows of the formats trainers read.

openai    OpenAI fine-tuning JSONL: {"messages": [...], "tools": [...]}; a step that called a tool is an
          assistant message with `tool_calls` (arguments as a JSON string) answered by a `tool` message;
          demonstration answers and replies that produced no action carry `"weight": 0`
trl       TRL's conversational language-modelling format: {"messages": [...], "tools": [...]}, tool calls as
          {"type": "function", "function": {"name", "arguments": {...}}} answered by {"role": "tool", ...}
sharegpt  LLaMA-Factory's ShareGPT: {"conversations": [{"from": "system"|"human"|"gpt"|"function_call"|
          "observation", "value": ...}], "tools": "<JSON>"}
dpo       TRL's conversational preference format: {"prompt": [...], "chosen": [...], "rejected": [...]}

Every row ends with an assistant message: the observation after the last step trains nothing.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from agentevo.records import Message
from agentevo.train.conversation import Conversation, Turn

Format = Literal["openai", "trl", "sharegpt", "dpo"]
FORMATS: tuple[str, ...] = ("openai", "trl", "sharegpt", "dpo")
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}


def chat_messages(conv: Conversation, style: Literal["openai", "trl"]) -> list[Message]:
    """The whole conversation in one message style, ending with the last reply."""
    out: list[Message] = [prompt_message(m, style) for m in conv.prompt]
    for i, turn in enumerate(conv.turns):
        out.append(reply_message(turn, i, style))
        if i < len(conv.turns) - 1:
            out.append(observation_message(turn, i, style))
    return out


def prompt_message(m: Message, style: str) -> Message:
    msg = {"role": m["role"], "content": m.get("content", "")}
    if style == "openai" and m["role"] == "assistant":
        msg["weight"] = 0  # a demonstration's answer is context, not the agent's action
    return msg


def reply_message(turn: Turn, i: int, style: str) -> Message:
    call = turn.tool_call
    msg: Message = {"role": "assistant"}
    if call is None:
        msg["content"] = turn.reply
    elif style == "openai":
        if turn.text_around_call:
            msg["content"] = turn.text_around_call
        fn = {"name": call[0], "arguments": json.dumps(call[1], ensure_ascii=False)}
        msg["tool_calls"] = [{"id": call_id(i), "type": "function", "function": fn}]
    else:
        msg["content"] = turn.text_around_call
        msg["tool_calls"] = [{"type": "function", "function": {"name": call[0], "arguments": call[1]}}]
    if style == "openai":
        msg["weight"] = int(turn.trainable)
    return msg


def observation_message(turn: Turn, i: int, style: str) -> Message:
    call = turn.tool_call
    if call is None:
        return {"role": "user", "content": turn.observation}
    if style == "openai":
        return {"role": "tool", "tool_call_id": call_id(i), "content": turn.observation}
    return {"role": "tool", "name": call[0], "content": turn.observation}


def call_id(i: int) -> str:
    return f"call_{i}"


def tool_schemas(conv: Conversation) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("parameters") or {"type": "object", "properties": {}},
            },
        }
        for t in conv.tools
    ]


def openai_row(conv: Conversation) -> dict[str, Any]:
    row: dict[str, Any] = {"messages": chat_messages(conv, "openai")}
    if conv.tools:
        row["tools"] = tool_schemas(conv)
    return row


def trl_row(conv: Conversation) -> dict[str, Any]:
    row: dict[str, Any] = {"messages": chat_messages(conv, "trl")}
    if conv.tools:
        row["tools"] = tool_schemas(conv)
    return row


def sharegpt_row(conv: Conversation) -> dict[str, Any]:
    turns = []
    for m in chat_messages(conv, "trl"):
        if m.get("tool_calls"):
            fn = m["tool_calls"][0]["function"]
            value = json.dumps({"name": fn["name"], "arguments": fn["arguments"]}, ensure_ascii=False)
            turns.append({"from": "function_call", "value": value})
        else:
            turns.append({"from": SHAREGPT_FROM[m["role"]], "value": m["content"]})
    row: dict[str, Any] = {"conversations": turns}
    if conv.tools:
        row["tools"] = json.dumps([t["function"] for t in tool_schemas(conv)], ensure_ascii=False)
    return row


SFT_ROWS = {"openai": openai_row, "trl": trl_row, "sharegpt": sharegpt_row}
