"""A constraint on one model reply: the llguidance Lark grammar of the whole reply, and the pieces the
kinds' grammars share (a reasoning sentence, the `call NAME {json}` alternative of offered tools).

Lark here is llguidance's dialect: terminals are regexes `/…/` (with `&` and `~` for and/not), and
`%json {schema}` inside a rule is one JSON value of that schema."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentevo.records import ToolSpec

log = logging.getLogger(__name__)

REASON_CHARS = 160
# A tool name `call NAME` can name (agentevo.agent.parsing.TOOL_CALL); other tools cannot be called by text.
TOOL_NAME = re.compile(r"[A-Za-z_][\w.-]*")
# JSON as json.dumps writes it: one line, ", " and ": " (a line break would end the `call` line).
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


@dataclass(frozen=True)
class Constraint:
    """The grammar of a whole reply; `json_schema` is set when the reply is one JSON value of that schema
    (so a remote provider can use its JSON-schema mode instead)."""

    lark: str
    label: str
    json_schema: dict[str, Any] | None = None
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        blob = f"{self.label}\n{self.lark}".encode()
        object.__setattr__(self, "digest", hashlib.sha256(blob).hexdigest())


def literal(text: str) -> str:
    """A Lark string literal (JSON's escapes are Lark's)."""
    return json.dumps(text)


def choice(texts: Sequence[str]) -> str:
    return " | ".join(literal(t) for t in texts)


def reason_terminal(name: str = "REASON") -> str:
    """One short sentence: it starts with a letter (the embedded model otherwise tends to number a list,
    `1. 1. 1.`, until the bound), holds no control character (line break, tab) nor backtick, and is not a
    `call NAME` line (parse_tool_call reads it)."""
    return rf"{name}: /[A-Za-z][^\x00-\x1f\x7f`]{{0,{REASON_CHARS - 1}}}/ & ~/call\s(?s:.*)/"


def with_layout(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "x-guidance": JSON_LAYOUT}


def callable_tools(tools: Sequence[ToolSpec]) -> list[ToolSpec]:
    return [t for t in tools if TOOL_NAME.fullmatch(t.name)]


def tool_rules(tools: Sequence[ToolSpec]) -> tuple[str, list[str]]:
    """The `call NAME {json}` alternative (rule `tool_call`) of the tools that can be called by text, or
    ("", []) when there are none."""
    usable = callable_tools(tools)
    if not usable:
        return "", []
    names = [f"tool_{i}" for i in range(len(usable))]
    lines = ["tool_call: " + " | ".join(names)]
    for name, tool in zip(names, usable, strict=True):
        schema = dict(tool.parameters) if isinstance(tool.parameters, dict) else {}
        schema.setdefault("type", "object")
        args = json.dumps(with_layout(schema))
        if not compiles(args):  # the tool executor still checks the arguments against the schema
            log.warning("tool %s: llguidance cannot compile its parameters' schema; any object", tool.name)
            args = json.dumps(with_layout({"type": "object"}))
        lines.append(f"{name}: {literal('call ' + tool.name + ' ')} {name}_args")
        lines.append(f"{name}_args: %json {args}")
    return "\n".join(lines), names


@functools.lru_cache(maxsize=256)
def compiles(schema: str) -> bool:
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema)
    return not llguidance.LLMatcher.validate_grammar(grammar)


def json_reply(label: str, schema: dict[str, Any]) -> Constraint:
    """The whole reply is one JSON value of `schema`, written on one line as json.dumps writes it."""
    lark = f"start: value\nvalue: %json {json.dumps(with_layout(schema))}\n"
    return Constraint(lark=lark, label=f"json:{label}", json_schema=schema)
