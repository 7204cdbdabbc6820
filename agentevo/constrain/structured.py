"""The constraints of the replies agentevo asks for outside episodes, each matched to the parser reading it:

    reflection_reply()   agentevo.memory.llm_reflector.parse_items: one JSON object {"items": [≤ 3 items]}
    judge_reply()        agentevo.evolve.judge.LLMJudge: a reasoning line, then `VERDICT: SUCCESS|FAILURE`
    synth_reply(kind)    agentevo.tools.synth.parse_proposal: NAME, KIND (and ARGS where the kind's tools
                         state their replay arguments), then ```python tool.py and ```python test_tool.py

Only the reflector's reply is JSON (so only it carries a json_schema for providers' JSON modes); the judge
and the synthesiser read text formats, constrained by their own Lark grammars.
"""

from __future__ import annotations

import json
import re

from agentevo.constrain.constraint import JSON_LAYOUT, Constraint, json_reply, literal, reason_terminal

MAX_ITEMS = 3


def stripped(longest: int, *, empty: bool = False) -> dict[str, str]:
    """A one-line string that str.strip() leaves whole, 3..longest characters (or empty)."""
    core = rf"\S.{{1,{longest - 2}}}\S"
    return {"type": "string", "pattern": f"^({core})?$" if empty else f"^{core}$"}


# ReflectionItem (llm_reflector): kind, title 3..120, description ≤ 400, content 3..1200 after strip.
REFLECTION_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"enum": ["insight", "pitfall", "workflow"]},
                    "title": stripped(120),
                    "description": stripped(400, empty=True),
                    "content": stripped(1200),
                },
                "required": ["kind", "title", "description", "content"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["items"],
    "additionalProperties": False,
}


def reflection_reply() -> Constraint:
    return json_reply("reflection", REFLECTION_SCHEMA)


def judge_reply() -> Constraint:
    """The reasoning may not say `verdict:` itself (the judge reads the first one)."""
    lark = "\n".join(
        [
            'start: REASON "\\nVERDICT: " ("SUCCESS" | "FAILURE")',
            reason_terminal() + r" & ~/(?s:.*(?i:verdict)\s*:.*)/",
        ]
    )
    return Constraint(lark=lark + "\n", label="judge-verdict")


def file_block(name: str) -> str:
    return rf"/```python {re.escape(name)}\n[^`]*[^`\s][^`]*\n```/ & ~/(?s:.*\n\s*(NAME|KIND|ARGS)\s*:.*)/"


def synth_reply(kind: str, *, tool_args: bool) -> Constraint:
    """`tool_args` is agentevo.kinds.kind(kind).tool_args (whether the proposal carries ARGS)."""
    args_object = json.dumps({"type": "object", "x-guidance": JSON_LAYOUT})
    head = f'start: "NAME: " NAME "\\nKIND: " {literal(kind)} "\\n" '
    lines = [
        head + ("args_line " if tool_args else "") + "files",
        *(['args_line: "ARGS: " args "\\n"', f"args: %json {args_object}"] if tool_args else []),
        'files: TOOL_PY "\\n" TEST_PY',
        r"NAME: /[A-Za-z_][A-Za-z0-9_]{0,63}/",
        # each file block whole, as one terminal: no backtick in it (the block would end), no line that
        # reads as a NAME/KIND/ARGS field
        f"TOOL_PY: {file_block('tool.py')}",
        f"TEST_PY: {file_block('test_tool.py')}",
    ]
    return Constraint(lark="\n".join(lines) + "\n", label=f"synth:{kind}")
