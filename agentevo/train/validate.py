"""The rules each export format's readers enforce, checked on every row before a file is written.

openai    roles system|user|assistant|tool; an assistant message has content or tool_calls (each with an id,
          type "function", a name and arguments as a JSON string); every tool message answers a call id of
          the assistant message before it; `weight` only on assistant messages, 0 or 1; some weight-1 reply
trl       a list of {role, content} messages (tool calls with dict arguments) with an assistant reply
sharegpt  LLaMA-Factory: an optional leading system turn, then human|observation on odd and gpt|function_call
          on even positions, ending with gpt|function_call
dpo       prompt ends with a user or tool message; chosen and rejected start with an assistant reply
"""

from __future__ import annotations

import json
from typing import Any

ROLES = {"system", "user", "assistant", "tool"}


class InvalidRow(ValueError):
    pass


def check(ok: bool, why: str) -> None:
    if not ok:
        raise InvalidRow(why)


def validate_row(row: dict[str, Any], format: str) -> None:
    {"openai": openai, "trl": trl, "sharegpt": sharegpt, "dpo": dpo}[format](row)


def openai(row: dict[str, Any]) -> None:
    msgs = row.get("messages")
    check(isinstance(msgs, list) and bool(msgs), "messages must be a non-empty list")
    open_calls: set[str] = set()
    for m in msgs:
        check(m.get("role") in ROLES, f"unknown role {m.get('role')!r}")
        check("weight" not in m or (m["role"] == "assistant" and m["weight"] in (0, 1)), "bad weight")
        if m["role"] == "tool":
            check(
                m.get("tool_call_id") in open_calls,
                "a tool message must answer a call of the reply before it",
            )
            open_calls.discard(m["tool_call_id"])
            continue
        check(not open_calls or m["role"] != "user", "a tool call was not answered")
        if m["role"] == "assistant":
            open_calls = set(openai_calls(m))
            check(
                isinstance(m.get("content"), str) or bool(open_calls), "a reply needs content or tool_calls"
            )
        else:
            check(isinstance(m.get("content"), str), f"a {m['role']} message needs string content")
    check(any(m["role"] == "assistant" and m.get("weight", 1) == 1 for m in msgs), "nothing to train on")
    for tool in row.get("tools", []):
        check(tool.get("type") == "function" and "name" in tool.get("function", {}), "bad tool schema")


def openai_calls(m: dict[str, Any]) -> list[str]:
    ids = []
    for call in m.get("tool_calls") or ():
        fn = call.get("function", {})
        check(
            call.get("type") == "function" and bool(call.get("id")) and bool(fn.get("name")), "bad tool call"
        )
        check(isinstance(fn.get("arguments"), str), "tool call arguments must be a JSON string")
        check(isinstance(json.loads(fn["arguments"]), dict), "tool call arguments must encode an object")
        ids.append(call["id"])
    return ids


def conversation(msgs: Any, what: str) -> None:
    check(isinstance(msgs, list) and bool(msgs), f"{what} must be a non-empty list of messages")
    for m in msgs:
        check(isinstance(m, dict) and m.get("role") in ROLES, f"{what}: bad message {str(m)[:60]}")
        check(isinstance(m.get("content"), str), f"{what}: content must be a string")
        for call in m.get("tool_calls") or ():
            check(isinstance(call["function"]["arguments"], dict), f"{what}: arguments must be an object")


def trl(row: dict[str, Any]) -> None:
    conversation(row.get("messages"), "messages")
    check(any(m["role"] == "assistant" for m in row["messages"]), "no assistant reply")


def sharegpt(row: dict[str, Any]) -> None:
    turns = row.get("conversations")
    check(isinstance(turns, list) and bool(turns), "conversations must be a non-empty list")
    if turns[0].get("from") == "system":
        turns = turns[1:]
    for i, t in enumerate(turns):
        allowed = ("human", "observation") if i % 2 == 0 else ("gpt", "function_call")
        check(t.get("from") in allowed, f"turn {i}: {t.get('from')!r} where {' or '.join(allowed)} belongs")
        check(isinstance(t.get("value"), str), f"turn {i}: value must be a string")
    check(len(turns) % 2 == 0, "the conversation must end with a gpt turn")
    if "tools" in row:
        check(isinstance(json.loads(row["tools"]), list), "tools must be a JSON list")


def dpo(row: dict[str, Any]) -> None:
    for key in ("prompt", "chosen", "rejected"):
        conversation(row.get(key), key)
    check(row["prompt"][-1]["role"] in ("user", "tool"), "the prompt must end with a user or tool message")
    check(row["chosen"][0]["role"] == "assistant", "chosen must start with a reply")
    check(row["rejected"][0]["role"] == "assistant", "rejected must start with a reply")
