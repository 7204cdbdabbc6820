"""Reading tool calls out of model replies: native calls and the `call NAME {json}` grammar. (Fenced blocks,
which environments read too, live below them in agentevo.envs.replies.)"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from agentevo.errors import FormatError
from agentevo.records import Action, ModelReply, ToolSpec

TOOL_CALL = re.compile(
    r"^\s*(?:```\w*\s*)?call\s+([A-Za-z_][\w.-]*)\s*(\{.*?\})?\s*(?:```)?\s*$", re.S | re.M
)


def parse_tool_call(reply: ModelReply, tools: Sequence[ToolSpec]) -> Action | None:
    """A native tool call, or a `call NAME {json}` line naming an offered tool; None when there is neither."""
    names = {t.name for t in tools}
    if reply.tool_calls:
        call = reply.tool_calls[0]
        if call.name not in names:
            raise FormatError(f"There is no tool named {call.name!r}. Available: {', '.join(sorted(names))}.")
        raw = reply.text.strip() or f"call {call.name} {json.dumps(call.arguments)}"
        return Action(name="call", args={"tool": call.name, "args": call.arguments}, raw=raw)
    if not names:
        return None
    match = TOOL_CALL.search(reply.text)
    if match is None:
        return None
    name, blob = match.group(1), match.group(2) or "{}"
    if name not in names:
        raise FormatError(f"There is no tool named {name!r}. Available: {', '.join(sorted(names))}.")
    try:
        args = json.loads(blob)
    except json.JSONDecodeError as exc:
        raise FormatError(f"The arguments of `call {name}` are not valid JSON ({exc.msg}).") from None
    if not isinstance(args, dict):
        raise FormatError(f"The arguments of `call {name}` must be a JSON object.")
    return Action(name="call", args={"tool": name, "args": args}, raw=match.group(0).strip())


def action_key(action: Action) -> str:
    return json.dumps([action.name, action.args], sort_keys=True, default=str)
