"""Prompt templates: jinja2 `.md` files under prompts/<set>/ (with prompts/common/ as the fallback); a kind
registered with its own `prompts_dir` (agentevo.kinds) brings its set along.

A `demo.md` holds demonstration turns separated by `--- user ---` and `--- assistant ---` lines; they are
sent as real user/assistant messages, which small models follow far better than text in a system prompt.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2

from agentevo.kinds import registered

PROMPTS = Path(__file__).parent / "prompts"
TURN = re.compile(r"^--- (user|assistant) ---[ \t]*$", re.M)


@functools.cache
def environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder), str(PROMPTS / "common")]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def folder(prompt_set: str) -> Path:
    spec = registered(prompt_set)
    return spec.prompts_dir if spec is not None and spec.prompts_dir else PROMPTS / prompt_set


def render(prompt_set: str, name: str, **context: Any) -> str:
    return environment(folder(prompt_set)).get_template(name).render(**context).strip()


def demonstrations(prompt_set: str) -> list[tuple[str, str]]:
    """The built-in format demonstration of a prompt set, as (user, assistant) pairs."""
    path = folder(prompt_set) / "demo.md"
    return parse_turns(path.read_text()) if path.exists() else []


def parse_turns(text: str) -> list[tuple[str, str]]:
    parts = TURN.split(text)
    turns = [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    pairs: list[tuple[str, str]] = []
    for (role_a, a), (role_b, b) in zip(turns[::2], turns[1::2], strict=False):
        if role_a == "user" and role_b == "assistant":
            pairs.append((a, b))
    return pairs
