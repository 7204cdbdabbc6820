"""Compiling a successful web episode into a macro: each action addressed by the role and accessible name of
the element it hit (from `Observation.meta["target"]`), never by the page's ids, which change every load.

Values the instruction quotes, and any typed text that appears in the instruction, become parameters; so do
the names of clicked elements the instruction quotes ("Click on the "ok" button"). A `goto` keeps only the
path, so the macro follows the site wherever it is served. A final `stop` is kept only when its answer is
empty or comes from the instruction — an answer read off the page is the agent's job, not a constant.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit

from agentevo.records import Tool, Trajectory
from agentevo.tools.candidate import Candidate
from agentevo.tools.compiler import NotCompilable, candidate, provenance, slug
from agentevo.tools.names import ACTION_VERBS, IMPERSONATED
from agentevo.tools.signature import NAME

QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']+)'|`([^`]+)`")
CHOICE_ROLES = frozenset({"radio", "checkbox", "option", "link", "tab", "treeitem", "menuitem", "listitem"})
SKIPPED = {"scroll"}  # locators scroll by themselves
TAB_ACTIONS = {"new_tab", "tab_focus", "close_tab"}
STOPWORDS = frozenset(
    "the and a an of on in into to for from with named called labeled labelled enter type click select press "
    "choose search find write put pick set fill".split()
)
INERT_ROLES = frozenset({"StaticText", "generic", "paragraph", "heading", "img", "dialog"})
MAX_STEPS = 40


@dataclass
class Params:
    """Instruction values turned into parameters, in order of first use."""

    instruction: str
    quoted: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # value -> parameter name
    hints: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quoted = [next(g for g in m.groups() if g) for m in QUOTED.finditer(self.instruction)]

    def param(self, value: str, hint: str, *, quoted_only: bool) -> str | None:
        """The parameter standing for `value`, or None when it stays a constant."""
        if not value.strip():
            return None
        if value in self.names:
            return self.names[value]
        if value not in self.quoted and (quoted_only or value not in self.instruction):
            return None
        name = unique(identifier(self.word_before(value) or hint), set(self.names.values()))
        self.names[value] = name
        return name

    def word_before(self, value: str) -> str:
        """The noun that introduces a quoted value ('the username "x"' → username), if there is one."""
        at = self.instruction.find(value)
        words = re.findall(r"[A-Za-z]+", self.instruction[: max(at, 0)])
        word = words[-1].lower() if words else ""
        return word if len(word) > 2 and word not in STOPWORDS else ""


def identifier(hint: str) -> str:
    name = "_".join(re.findall(r"[a-z0-9]+", hint.lower()))[:24].strip("_") or "value"
    if not name[0].isalpha():
        name = f"value_{name}"
    if keyword.iskeyword(name) or name == "id" or name.endswith("_id"):
        name = f"{name}_text"
    return name


def unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


@dataclass(frozen=True)
class Const:
    value: Any

    def source(self) -> str:
        return repr(self.value)

    def value_with(self, args: dict[str, str]) -> Any:
        return self.value


@dataclass(frozen=True)
class Ref:
    """A parameter; `quoted` when it sits in a URL's query (quote_plus)."""

    name: str
    quoted: bool = False

    def source(self) -> str:
        return f"quote_plus({self.name})" if self.quoted else self.name

    def value_with(self, args: dict[str, str]) -> Any:
        return quote_plus(args[self.name]) if self.quoted else args[self.name]


@dataclass(frozen=True)
class Join:
    parts: tuple[Const | Ref, ...]

    def source(self) -> str:
        return " + ".join(p.source() for p in self.parts)

    def value_with(self, args: dict[str, str]) -> Any:
        return "".join(str(p.value_with(args)) for p in self.parts)


Expr = Const | Ref | Join
Step = dict[str, Expr]


def lit(value: Any) -> Const:
    return Const(value)


def value_or_param(params: Params, value: str, hint: str, *, quoted_only: bool) -> Expr:
    name = params.param(value, hint, quoted_only=quoted_only)
    return Ref(name) if name else Const(value)


def compile_steps(traj: Trajectory, params: Params) -> list[Step]:
    steps: list[Step] = []
    seen = pages_seen(traj)
    for i, s in enumerate(traj.steps):
        a = s.action
        if a is None or a.name in SKIPPED or s.observation.error:
            continue  # failed actions changed nothing worth repeating
        if wasted_click(traj, i, seen):
            continue
        if a.name in TAB_ACTIONS:
            raise NotCompilable(f"tab actions ({a.name}) are not compiled")
        target = s.observation.meta.get("target")
        step = compile_action(a.name, a.args, target, params)
        if step is not None and isinstance(target, dict) and a.args.get("id") is not None:
            nth = ordinal(
                seen.get(i, ""), str(a.args["id"]), str(target["role"]), str(target.get("name", ""))
            )
            if nth:
                step["nth"] = lit(nth)
        if step is not None:
            steps.append(step)
    if not steps:
        raise NotCompilable("no action to repeat")
    if len(steps) > MAX_STEPS:
        raise NotCompilable(f"{len(steps)} steps is too long for a macro")
    return steps


def wasted_click(traj: Trajectory, i: int, seen: dict[int, str]) -> bool:
    """A click on text that left the page as it was: a macro that repeats it has to find that text again
    (a blank or changing one often cannot be found) for nothing. Clicks on controls are always kept."""
    step = traj.steps[i]
    target = step.observation.meta.get("target")
    if step.action is None or step.action.name != "click" or step.observation.done:
        return False
    if not isinstance(target, dict) or target.get("role") not in INERT_ROLES:
        return False
    after = unfocused(step.observation.text)
    if i == 0:
        return bool(after) and after in unfocused(seen.get(0, ""))
    before = traj.steps[i - 1].observation
    return after == unfocused(before.text) and step.observation.url == before.url


def unfocused(page: str) -> str:
    """The page without its focus marks: a click on text moves the focus and nothing else."""
    return page.replace(" focused: True", "")


def pages_seen(traj: Trajectory) -> dict[int, str]:
    """The page text the model saw before each step: the user message before that step's reply."""
    seen: dict[int, str] = {}
    at = 0
    messages = list(traj.messages)
    for i, step in enumerate(traj.steps):
        for j in range(at, len(messages)):
            m = messages[j]
            if m.get("role") == "assistant" and m.get("content") == step.model_reply and j > 0:
                seen[i] = str(messages[j - 1].get("content", ""))
                at = j + 1
                break
    return seen


def ordinal(page: str, element_id: str, role: str, name: str) -> int:
    """Which of the page's elements with this role and name the id was (0 = the first)."""
    same = re.findall(rf"^\s*\[(\d+)\] {re.escape(role)} '{re.escape(name)}'", page, re.M)
    return same.index(element_id) if element_id in same else 0


def compile_action(name: str, args: dict[str, Any], target: Any, params: Params) -> Step | None:
    if name in ("click", "hover", "type"):
        if not isinstance(target, dict) or "role" not in target:
            raise NotCompilable(f"{name} without a recorded target role and name")
        role, label = str(target["role"]), str(target.get("name", ""))
        choice = name == "click" and role in CHOICE_ROLES  # what to pick is what varies between instances
        step: Step = {
            "do": lit(name),
            "role": lit(role),
            "name": value_or_param(params, label, role, quoted_only=not choice),
        }
        if name == "type":
            text = str(args.get("text", ""))
            step["text"] = value_or_param(params, text, label or "text", quoted_only=False)
            step["enter"] = lit(bool(args.get("enter", True)))
        return step
    if name == "press":
        return {"do": lit("press"), "key": lit(str(args.get("key", "")))}
    if name in ("go_back", "go_forward"):
        return {"do": lit(name)}
    if name == "goto":
        return {"do": lit("goto"), "url": url_expr(str(args.get("url", "")), params)}
    if name == "stop":
        answer = value_or_param(params, str(args.get("answer", "")), "answer", quoted_only=False)
        if isinstance(answer, Const) and answer.value:
            return None  # an answer read off the page: the agent gives it
        return {"do": lit("stop"), "answer": answer}
    raise NotCompilable(f"unknown web action {name!r}")


def url_expr(url: str, params: Params) -> Expr:
    """The URL's path and query, with quoted instruction values in it replaced by their parameters."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", ""):
        raise NotCompilable(f"goto {parts.scheme}: URLs are not compiled")
    rest = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pieces: list[Const | Ref] = [Const(rest)]
    for value in sorted(set(params.quoted), key=len, reverse=True):
        for form, quoted in ((quote_plus(value), True), (value, False)):
            if any(isinstance(p, Const) and form in p.value for p in pieces):
                ref = Ref(params.param(value, "query", quoted_only=True) or "query", quoted)
                pieces = split_on(pieces, form, ref)
    return pieces[0] if len(pieces) == 1 else Join(tuple(pieces))


def split_on(pieces: list[Const | Ref], form: str, ref: Ref) -> list[Const | Ref]:
    out: list[Const | Ref] = []
    for piece in pieces:
        if not (isinstance(piece, Const) and form in piece.value):
            out.append(piece)
            continue
        chunks = piece.value.split(form)
        for i, chunk in enumerate(chunks):
            if i:
                out.append(ref)
            if chunk:
                out.append(Const(chunk))
    return out


def instruction_of(traj: Trajectory) -> str:
    """What the agent was asked: the page's own utterance (MiniWoB++) when there is one."""
    first = traj.steps[0].observation.meta.get("objective") if traj.steps else None
    return str(traj.details.get("utterance") or first or traj.task.instruction)


def tool_name(traj: Trajectory, params: Params) -> str:
    template = traj.task.template_id.split(".")[-1]
    if template and not template.isdigit() and template != traj.task.id:
        name = slug(template)
    else:
        text = params.instruction
        for value in params.names:
            text = text.replace(value, " ")
        name = slug(" ".join(text.split()[:6]))
    if name in ACTION_VERBS or name in IMPERSONATED or not NAME.match(name):
        name = f"do_{name}"[:64]
    return name


def description(traj: Trajectory, params: Params) -> str:
    text = params.instruction
    for value, name in params.names.items():
        text = text.replace(value, f"<{name}>")
    return "Web macro for tasks like: " + " ".join(text.split())[:240]


def render(name: str, params: Params, steps: list[Step], doc: str, header: str) -> str:
    signature = ", ".join(f"{p}: str" for p in params.names.values())
    uses_quote = any("quote_plus(" in v.source() for s in steps for v in s.values())
    imports = "from urllib.parse import quote_plus\n\n\n" if uses_quote else ""
    body = "".join(
        "        {" + ", ".join(f"{k!r}: {v.source()}" for k, v in s.items()) + "},\n" for s in steps
    )
    return (
        f'"""{header}"""\n\n\n{imports}'
        f"def {name}({signature}) -> list[dict]:\n"
        f"    {doc!r}\n"
        f"    return [\n{body}    ]\n"
    )


def render_tests(name: str, steps: list[Step], args: dict[str, str]) -> str:
    """The macro with the source episode's arguments must give exactly the source episode's steps."""
    expected = [{k: v.value_with(args) for k, v in s.items()} for s in steps]
    call = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return (
        f'"""The source episode\'s steps, rebuilt from its arguments."""\n\nfrom tool import {name}\n\n\n'
        f"def test_source_steps():\n    assert {name}({call}) == {expected!r}\n"
    )


def compile_web(traj: Trajectory) -> Candidate:
    params = Params(instruction_of(traj))
    steps = compile_steps(traj, params)
    name = tool_name(traj, params)
    header = f"Compiled from {traj.task.id} (trajectory {traj.id}): a web macro."
    source = render(name, params, steps, description(traj, params), header)
    args = {p: v for v, p in params.names.items()}
    tool = Tool(
        name=name,
        kind="web",
        description="",
        source=source,
        tests=render_tests(name, steps, args),
        provenance=provenance(traj),
    )
    return candidate(traj, tool, args)
