"""The reply grammars of the built-in kinds, as pure functions of what the environment accepts right now.
Each allows only replies that the kind's own parser reads as one valid action:

    web   a reasoning sentence, a line break, then ```ACTION``` (agentevo.envs.web.actions), the ids of
          click/hover/type taken from the current observation, tab_focus only to an open tab
    os    `Think: …`, then `Act: bash` with one ```bash block, `Act: answer(…)` or `Act: finish`
          (agentevo.envs.os.parse_action)
    code  a reasoning sentence, then one ```python block (agentevo.envs.code.extract_code)

and, when tools are offered as text, `call NAME {json}` (agentevo.agent.parsing.parse_tool_call) in the
action's place, its JSON held to the tool's parameter schema.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentevo.constrain.constraint import Constraint, choice, reason_terminal, tool_rules
from agentevo.records import Observation, ToolSpec

ELEMENT = re.compile(r"^[ \t]*\[(\d+)\]", re.M)
TAB = re.compile(r"\bTab (\d+)\b")
TEXT_CHARS = 200
URL_CHARS = 300

# A fenced block whole, fence to fence, as one terminal (its body and the closing fence cannot be told apart
# by a lexer otherwise): no backtick in the body (nothing ends it early), at least one visible character.
NO_CALL_LINE = r" & ~/(?s:.*\n\s*call\s.*)/"  # with tools offered: no line that parse_tool_call would read


def block(language: str) -> str:
    return rf"/```{language}\n[^`]*[^`\s][^`]*\n```/"


def web_ids(text: str) -> list[str]:
    """The element ids of an accessibility tree's lines (`\\t[12] button 'Save'`), in order, once each."""
    return list(dict.fromkeys(ELEMENT.findall(text)))


def open_tabs(observation: Observation) -> int:
    tabs = observation.meta.get("tabs")
    if isinstance(tabs, list | tuple):
        return len(tabs)
    header = observation.text.split("\n", 1)[0]
    return max((int(n) + 1 for n in TAB.findall(header)), default=1)


def web_reply(observation: Observation, tools: Sequence[ToolSpec] = ()) -> Constraint:
    ids = web_ids(observation.text)
    tabs = open_tabs(observation)
    actions = [
        'press: "press [" KEY "]"',
        'scroll: "scroll [" ("up" | "down") "]"',
        'goto: "goto [" URL "]"',
        f'tab_focus: "tab_focus [" ({choice([str(i) for i in range(max(tabs, 1))])}) "]"',
        'stop: "stop [" TEXT "]"',
    ]
    names = ["press", "scroll", "goto", "tab_focus", "stop", '"go_back"', '"go_forward"', '"new_tab"']
    names.append('"close_tab"')
    if ids:
        actions += [
            f"element: {choice(ids)}",
            'click: "click [" element "]"',
            'hover: "hover [" element "]"',
            'type: "type [" element "] [" TEXT "] [" ("0" | "1") "]"',
        ]
        names = ["click", "type", "hover", *names]
    tools_lark, tool_names = tool_rules(tools)
    if tool_names:
        names.append("tool_call")
    lines = [
        'start: REASON "\\n```" action "```"',
        "action: " + " | ".join(names),
        *actions,
        reason_terminal(),
        rf"TEXT: /[^\]\x00-\x1f\x7f`]{{0,{TEXT_CHARS}}}/",
        r"KEY: /[A-Za-z0-9][A-Za-z0-9+_-]{0,29}/",
        rf"URL: /https?:\/\/[^\s\]`]{{1,{URL_CHARS}}}/",
        tools_lark,
    ]
    return Constraint(lark="\n".join(line for line in lines if line) + "\n", label="web-action")


def os_reply(observation: Observation, tools: Sequence[ToolSpec] = ()) -> Constraint:
    tools_lark, tool_names = tool_rules(tools)
    fenced = block("bash") + r" & ~/(?s:.*Act:.*)/" + (NO_CALL_LINE if tool_names else "")
    alternatives = ["bash", "answer", '"Act: finish"', *(["tool_call"] if tool_names else [])]
    lines = [
        'start: "Think: " REASON "\\n\\n" action',
        "action: " + " | ".join(alternatives),
        'bash: "Act: bash\\n\\n" BASH',
        reason_terminal(),
        f"BASH: {fenced}",
        # the answer and its closing parenthesis in one terminal: the answer may hold parentheses itself
        rf"answer: /Act: answer\([^\x00-\x1f\x7f]{{0,{TEXT_CHARS}}}\)/",
        tools_lark,
    ]
    return Constraint(lark="\n".join(line for line in lines if line) + "\n", label="os-reply")


def code_reply(observation: Observation, tools: Sequence[ToolSpec] = ()) -> Constraint:
    tools_lark, tool_names = tool_rules(tools)
    fenced = block("python") + (NO_CALL_LINE if tool_names else "")
    lines = [
        'start: REASON "\\n" action',
        "action: PYTHON" + (" | tool_call" if tool_names else ""),
        reason_terminal(),
        f"PYTHON: {fenced}",
        tools_lark,
    ]
    return Constraint(lark="\n".join(line for line in lines if line) + "\n", label="code-reply")
