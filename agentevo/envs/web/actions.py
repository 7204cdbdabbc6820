"""WebArena's id-based action grammar: reading one action out of a model reply.

    click [id]                      hover [id]
    type [id] [text] [0|1]          Enter after unless the last bracket is [0]; the field is not cleared
    press [key+combo]               scroll [up|down]
    new_tab   tab_focus [index]   close_tab
    goto [url]   go_back   go_forward
    stop [answer]                   ends the episode; the answer is what string evaluators score

The action is the first ``` block of the reply (as WebArena's `action_splitter`), or else the first line
that starts with one of these verbs. Anything else raises FormatError with feedback for the model.
"""

from __future__ import annotations

import re

from agentevo.errors import FormatError
from agentevo.records import Action

VERBS = (
    "click",
    "type",
    "hover",
    "press",
    "scroll",
    "new_tab",
    "tab_focus",
    "close_tab",
    "goto",
    "go_back",
    "go_forward",
    "stop",
)
ID_VERBS = frozenset({"click", "type", "hover"})
GRAMMAR = (
    "click [id] · type [id] [text] [1] (Enter after; [0] for none) · hover [id] · press [key] · "
    "scroll [up|down] · new_tab · tab_focus [index] · close_tab · goto [url] · go_back · go_forward · "
    "stop [answer]"
)
NO_ACTION = (
    "I could not find an action in your reply. Reply with exactly one action between triple backticks, "
    "for example ```click [12]```. The actions are: " + GRAMMAR
)
BLOCK = re.compile(r"```(.*?)```", re.S)
LINE = re.compile(rf"^\s*(?:{'|'.join(VERBS)})\b", re.I | re.M)
KEY_NAMES = {
    "ctrl": "Control",
    "control": "Control",
    "cmd": "Meta",
    "meta": "Meta",
    "alt": "Alt",
    "shift": "Shift",
    "enter": "Enter",
    "return": "Enter",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "space": "Space",
    "backspace": "Backspace",
    "delete": "Delete",
    "pageup": "PageUp",
    "pagedown": "PageDown",
    "arrowup": "ArrowUp",
    "arrowdown": "ArrowDown",
    "arrowleft": "ArrowLeft",
    "arrowright": "ArrowRight",
    "home": "Home",
    "end": "End",
}


def action_text(reply: str) -> str:
    """The action part of a reply: the first ``` block, else the first line starting with a verb."""
    block = BLOCK.search(reply)
    if block is not None:
        body = block.group(1).strip()
        line = LINE.search(body)
        if line is not None:
            return body[line.start() :].strip()
        return body
    line = LINE.search(reply)
    if line is None:
        raise FormatError(NO_ACTION)
    return reply[line.start() :].splitlines()[0].strip()


def parse_action(reply: str) -> Action:
    text = action_text(reply)
    verb = re.split(r"[\s\[]", text, maxsplit=1)[0].lower()
    if verb not in VERBS:
        raise FormatError(f"{text[:60]!r} is not an action. The actions are: {GRAMMAR}")
    args = parse_args(verb, text[len(verb) :].strip(), text)
    return Action(name=verb, args=args, raw=text)


def parse_args(verb: str, rest: str, text: str) -> dict[str, object]:
    if verb in ("click", "hover"):
        return {"id": element_id(rest, text)}
    if verb == "type":
        return type_args(rest, text)
    if verb == "press":
        return {"key": normalise_key(bracketed(rest, text, "press [Enter]"))}
    if verb == "scroll":
        direction = rest.strip("[] \t").lower()
        if direction not in ("up", "down"):
            raise FormatError(f"Cannot read {text!r}: write scroll [down] or scroll [up].")
        return {"direction": direction}
    if verb == "tab_focus":
        index = rest.strip("[] \t")
        if not index.isdigit():
            raise FormatError(f"Cannot read {text!r}: write tab_focus [0] with the tab's index.")
        return {"index": int(index)}
    if verb == "goto":
        return {"url": bracketed(rest, text, "goto [http://example.com]")}
    if verb == "stop":
        match = re.match(r"\[(.*)\]", rest, re.S)
        return {"answer": match.group(1).strip() if match else rest.strip()}
    return {}


def element_id(rest: str, text: str) -> str:
    match = re.match(r"\[\s*(-?\d+)\s*\]", rest)
    if match is None:
        raise FormatError(f"Cannot read {text!r}: give the element's id in brackets, like click [12].")
    return match.group(1)


def bracketed(rest: str, text: str, example: str) -> str:
    match = re.match(r"\[(.+)\]", rest, re.S)
    if match is None or not match.group(1).strip():
        raise FormatError(f"Cannot read {text!r}: write it like {example}.")
    return match.group(1).strip()


def type_args(rest: str, text: str) -> dict[str, object]:
    if not re.search(r"\[[01]\]\s*$", rest):
        rest = rest.rstrip() + " [1]"  # WebArena's default: press Enter after typing
    match = re.match(r"\[\s*(-?\d+)\s*\]\s*\[(.*)\]\s*\[([01])\]\s*$", rest, re.S)
    if match is None:
        raise FormatError(f"Cannot read {text!r}: write type [id] [text] [1], e.g. type [7] [hello] [1].")
    return {"id": match.group(1), "text": match.group(2), "enter": match.group(3) == "1"}


def normalise_key(combo: str) -> str:
    """`ctrl+a` → `Control+a`, `enter` → `Enter`: Playwright's key names."""
    parts = [p.strip() for p in combo.split("+")]
    return "+".join(KEY_NAMES.get(p.lower(), p) for p in parts if p)


def format_action(action: Action) -> str:
    """The action back in the grammar (for the `previous action` line of the prompt)."""
    a = action.args
    if action.name in ("click", "hover"):
        return f"{action.name} [{a.get('id')}]"
    if action.name == "type":
        return f"type [{a.get('id')}] [{a.get('text')}] [{1 if a.get('enter', True) else 0}]"
    if action.name == "press":
        return f"press [{a.get('key')}]"
    if action.name == "scroll":
        return f"scroll [{a.get('direction')}]"
    if action.name == "tab_focus":
        return f"tab_focus [{a.get('index')}]"
    if action.name == "goto":
        return f"goto [{a.get('url')}]"
    if action.name == "stop":
        return f"stop [{a.get('answer', '')}]"
    return action.raw or action.name
