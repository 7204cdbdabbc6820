"""Names and descriptions the model will read (TL-05): no shadowing of actions, builtins or well-known tools,
and no instructions smuggled into a description."""

from __future__ import annotations

import builtins
import keyword
import re

from agentevo.tools.rules import Violation
from agentevo.tools.signature import NAME

ACTION_VERBS = frozenset(
    {
        "answer", "bash", "call", "click", "close_tab", "finish", "go_back", "go_forward", "goto", "hover",
        "new_tab", "press", "scroll", "select", "stop", "submit", "tab_focus", "type",
    }
)  # fmt: skip
IMPERSONATED = frozenset(
    {
        "browse", "delete", "download", "exec", "execute", "fetch", "http_get", "http_post", "login",
        "memory", "python", "read_file", "recall", "run", "run_command", "search", "send_email", "shell",
        "sudo", "system", "terminal", "tool", "tools", "upload", "write_file",
    }
)  # fmt: skip
INJECTION = re.compile(
    r"(?i)\bignore\b.{0,30}\b(?:previous|prior|above|other|all)\b|\bdisregard\b|\balways\s+(?:call|use|run|invoke)"
    r"|\byou\s+(?:must|should\s+always)\b|\bimportant\s*[:!]|\bsystem\s+prompt\b|\binstead\s+of\b"
    r"|\bdo\s+not\s+(?:use|call)\b|\bbefore\s+(?:any|every)\s+other\b|\boverride\b|<\||\[/?INST\]|```"
    r"|\b(?:https?|file)://|\bapi[_ -]?keys?\b|\bexfiltrat|\bsend\b.{0,40}\b(?:secret|token|key)s?\b"
)
MAX_DESCRIPTION = 400


def name_violations(name: str) -> list[Violation]:
    if not NAME.match(name):
        return [Violation("bad-name", 0, f"{name!r}: use 3–64 lowercase letters, digits and underscores")]
    if name in ACTION_VERBS:
        return [Violation("name-shadowing", 0, f"{name!r} is an action of the environments")]
    if name in IMPERSONATED or keyword.iskeyword(name) or hasattr(builtins, name):
        return [Violation("name-shadowing", 0, f"{name!r} shadows a builtin or a well-known tool")]
    return []


def description_violations(text: str) -> list[Violation]:
    if not text.strip():
        return [Violation("no-docstring", 0, "the description is empty")]
    if len(text) > MAX_DESCRIPTION:
        return [
            Violation("description-injection", 0, f"the description is over {MAX_DESCRIPTION} characters")
        ]
    match = INJECTION.search(text)
    if match:
        return [
            Violation(
                "description-injection", 0, f"the description reads like an instruction: {match.group(0)!r}"
            )
        ]
    return []
