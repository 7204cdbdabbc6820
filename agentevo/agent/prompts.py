"""Prompt templates: jinja2 `.md` files under prompts/<kind>/ (with prompts/common/ as the fallback).

A `demo.md` holds demonstration turns separated by `--- user ---` and `--- assistant ---` lines; they are
sent as real user/assistant messages, which small models follow far better than text in a system prompt.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2

PROMPTS = Path(__file__).parent / "prompts"
TURN = re.compile(r"^--- (user|assistant) ---[ \t]*$", re.M)


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def template_name(kind: str, name: str) -> str:
    return f"{kind}/{name}" if (PROMPTS / kind / name).exists() else f"common/{name}"


def render(kind: str, name: str, **context: Any) -> str:
    return environment().get_template(template_name(kind, name)).render(**context).strip()


def demonstrations(kind: str) -> list[tuple[str, str]]:
    """The built-in format demonstration of a prompt set, as (user, assistant) pairs."""
    path = PROMPTS / kind / "demo.md"
    return parse_turns(path.read_text()) if path.exists() else []


def parse_turns(text: str) -> list[tuple[str, str]]:
    parts = TURN.split(text)
    turns = [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    pairs: list[tuple[str, str]] = []
    for (role_a, a), (role_b, b) in zip(turns[::2], turns[1::2], strict=False):
        if role_a == "user" and role_b == "assistant":
            pairs.append((a, b))
    return pairs
