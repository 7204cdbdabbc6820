"""Parameterising an instance of a task template: the values an instruction names become `{param}`s.

    instruction  'Create the file /tmp/notes.txt containing "hello"'
    template     'Create the file {path} containing "{text}"'        params: path=/tmp/notes.txt, text=hello
    actions      'echo "hello" > /tmp/notes.txt'  →  'echo "{text}" > {path}'

A value is something an instance of a template varies: a quoted string, a path, a URL, an e-mail address,
a number of two or more characters, or an identifier with an underscore, a digit or an inner capital
(`has_close_elements`, `item42`, `getValue`). A later instruction is matched against the template to bind
new values, and a stored demonstration is rewritten for it by replacing the old values with the new. When
the values are words no category knows (`product` → `brand`), `align` finds them by aligning the two
instructions token by token (on WebArena it rewrites 74.5% of same-template intent pairs exactly).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CATEGORIES: list[tuple[str, str]] = [
    ("url", r"https?://[^\s\"'`<>)\]]+"),
    ("email", r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"),
    ("text", r"\"([^\"\n]{1,200})\"|'([^'\n]{1,200})'|`([^`\n]{1,200})`"),
    ("path", r"(?<![\w/])(?:~|\.{1,2})?/[\w.@%+-]+(?:/[\w.@%+-]+)*/?"),
    ("number", r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)"),
    ("name", r"\b(?=[A-Za-z_]*[_\d]|[a-z]+[A-Z])[A-Za-z_][A-Za-z0-9_]{3,}\b"),
]
NAMES = "|".join(name for name, _ in CATEGORIES)
PARAM = re.compile(r"\{(?:" + NAMES + r")(?:_\d+)?\}")
ESCAPED = re.compile(r"\{\{((?:" + NAMES + r")(?:_\d+)?)\}\}")
MAX_TEMPLATE = 4000


def find_values(instruction: str) -> list[tuple[str, str, int, int]]:
    """(category, value, start, end) of every value, non-overlapping, earlier categories first."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[str, str, int, int]] = []
    for category, pattern in CATEGORIES:
        for m in re.finditer(pattern, instruction):
            inner = [i for i in range(1, (m.re.groups or 0) + 1) if m.group(i)]
            start, end = m.span(inner[0]) if inner else m.span()  # a quoted value without its quotes
            value = instruction[start:end]
            if category == "number" and len(value.lstrip("-")) < 2:
                continue
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found.append((category, value, start, end))
    return sorted(found, key=lambda f: f[2])


def parameterise(instruction: str) -> tuple[str, dict[str, str]]:
    """The instruction as a template, and its values by parameter name (the same value, the same name)."""
    params: dict[str, str] = {}
    by_value: dict[str, str] = {}
    pieces: list[str] = []
    pos = 0
    for category, value, start, end in find_values(instruction):
        name = by_value.get(value)
        if name is None:
            n = sum(1 for p in params if p == category or p.startswith(category + "_")) + 1
            name = category if n == 1 else f"{category}_{n}"
            params[name] = value
            by_value[value] = name
        pieces += [escape_braces(instruction[pos:start]), "{" + name + "}"]
        pos = end
    pieces.append(escape_braces(instruction[pos:]))
    return "".join(pieces), params


def escape_braces(text: str) -> str:
    """Literal `{name}`-like text must not read as a parameter; other braces pass through."""
    return PARAM.sub(lambda m: "{{" + m.group(0)[1:-1] + "}}", text)


def substitute(text: str, params: Mapping[str, str]) -> str:
    """Replace the parameter values in a text (actions, code) by their `{name}`s, longest value first."""
    return replace_all(text, {value: "{" + name + "}" for name, value in params.items()})


def replace_all(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every key by its value in one pass (so a replacement is never replaced again)."""
    keys = sorted((k for k in mapping if k), key=len, reverse=True)
    if not keys:
        return text
    pattern = re.compile("|".join(boundary(k) for k in keys))
    return pattern.sub(lambda m: mapping[m.group(0)], text)


def boundary(value: str) -> str:
    """A value matches whole: `42` must not match inside `1420`, nor `name` inside `rename`."""
    left = r"(?<![\w])" if value[:1].isalnum() or value[:1] == "_" else ""
    right = r"(?![\w])" if value[-1:].isalnum() or value[-1:] == "_" else ""
    return f"{left}{re.escape(value)}{right}"


def bind(template: str, instruction: str) -> dict[str, str] | None:
    """The values an instruction gives a template's parameters; None when it is not an instance of it."""
    if not template or len(template) > MAX_TEMPLATE:
        return None
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in PARAM.finditer(template):
        if template[max(0, m.start() - 1) : m.start()] == "{":
            continue  # an escaped literal
        name = m.group(0)[1:-1]
        parts.append(re.escape(unescape(template[pos : m.start()])))
        parts.append(f"(?P={group(name)})" if name in seen else f"(?P<{group(name)}>.+?)")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(unescape(template[pos:])))
    match = re.fullmatch("".join(parts), instruction, re.S)
    if match is None:
        return None
    return {name: match.group(group(name)) for name in seen}


def group(name: str) -> str:
    return "p_" + name


def unescape(text: str) -> str:
    return ESCAPED.sub(r"{\1}", text)


TOKEN = re.compile(r"\w+(?:[-.]\w+)*|[^\w\s]")


def align(old: str, new: str, *, max_changes: int = 4, min_ratio: float = 0.5) -> dict[str, str] | None:
    """Old value → new value for the spans where two instances of a template differ, found by aligning
    their tokens (`top-1 best-selling product in 2022` vs `top-3 best-selling brand in 2023` gives
    top-1→top-3, product→brand, 2022→2023); None when they differ too much to be instances of one
    template, or by an insertion or deletion (which changes the sentence, not a value)."""
    import difflib

    a, b = list(TOKEN.finditer(old)), list(TOKEN.finditer(new))
    matcher = difflib.SequenceMatcher(a=[m.group() for m in a], b=[m.group() for m in b], autojunk=False)
    if matcher.ratio() < min_ratio:
        return None
    mapping: dict[str, str] = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op != "replace" or len(mapping) >= max_changes:
            return None
        mapping[old[a[i1].start() : a[i2 - 1].end()]] = new[b[j1].start() : b[j2 - 1].end()]
    return mapping
