"""Compiling a successful OS episode into a parameterised shell script.

The episode's `bash` commands become one script; every command but the last keeps its effects and drops its
output (`{ …; } >/dev/null 2>&1`), so what the tool prints is what the episode's last command printed.
Values of the instruction found in the commands — quoted strings, paths, file names, upper-case words,
numbers of two digits or more — become typed parameters, inserted with `shlex.quote` in a way that fits the
quotes around them, so an argument can never break out of its word.

How the episode ended is kept with the replay: `answer-output` when the answer was that last output,
`finish` when the agent finished; the replay (harness-owned) ends the same way and must score again.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from agentevo.records import Tool, Trajectory
from agentevo.tools.candidate import Candidate
from agentevo.tools.compiler import NotCompilable, candidate, provenance, slug
from agentevo.tools.names import ACTION_VERBS, IMPERSONATED
from agentevo.tools.signature import NAME

QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|`([^`]+)`")
VALUE = re.compile(
    r"(?P<path>/[\w.@%+-]+(?:/[\w.@%+-]+)*)"  # absolute paths
    r"|(?P<file>\b[\w-]+\.[A-Za-z][\w]{0,7}\b)"  # file names with an extension
    r"|(?P<caps>\b[A-Z][A-Z0-9_]{1,}\b)"  # upper-case words (levels, codes)
    r"|(?P<number>\b\d{2,}\b)"  # numbers of two digits or more
)
STOPWORDS = frozenset(
    "a an the of in on to is are be with named called than from at by for has have and or its it that "
    "which what how many much does do file files directory folder".split()
)
MAX_COMMANDS = 30


@dataclass(eq=False)
class Param:
    value: str
    kind: str  # str | int
    hint: str  # the name it gets if the script uses it
    name: str = ""


@dataclass
class Params:
    instruction: str
    found: list[Param] = field(default_factory=list)

    @classmethod
    def from_instruction(cls, instruction: str) -> Params:
        params = cls(instruction)
        seen: set[str] = set()
        candidates = [(next(g for g in m.groups() if g), "quoted") for m in QUOTED.finditer(instruction)]
        candidates += [(m.group(0).rstrip("."), m.lastgroup or "") for m in VALUE.finditer(instruction)]
        for value, kind in candidates:
            if value in seen or len(value) < 2:
                continue
            seen.add(value)
            label = hint(instruction, instruction.rindex(value), kind)  # the last mention says most
            params.found.append(Param(value, "int" if kind == "number" else "str", label))
        return params

    def name_used(self, used: list[Param]) -> list[Param]:
        """Name the parameters the script uses, in order of first use."""
        taken: set[str] = set()
        for p in used:
            p.name = unique(p.hint, taken)
            taken.add(p.name)
        return used


def hint(text: str, at: int, kind: str) -> str:
    """A parameter name: the word before the value when it is a noun-ish word, else the value's kind."""
    before = re.findall(r"[A-Za-z]+", text[:at])
    word = before[-1].lower() if before else ""
    if word and word not in STOPWORDS and len(word) > 2:
        return word
    return {"path": "path", "file": "file_name", "caps": "word", "number": "number"}.get(kind, "text")


def unique(name: str, taken: set[str]) -> str:
    if name in ("id",) or name.endswith("_id"):
        name = f"{name}_value"
    n, candidate_ = 2, name
    while candidate_ in taken:
        candidate_, n = f"{name}_{n}", n + 1
    return candidate_


# --- shell quoting context --------------------------------------------------------------------------------


def quote_states(command: str) -> list[str]:
    """For each character, the quoting it is in: '' (none), "'" or '"'. Backslash escapes are respected."""
    states, state, escaped = [], "", False
    for ch in command:
        states.append(state)
        if escaped:
            escaped = False
        elif ch == "\\" and state != "'":
            escaped = True
        elif ch in "'\"" and state == "":
            state = ch
        elif ch == state:
            state = ""
    return states


@dataclass(frozen=True)
class Insert:
    """A parameter in the script, quoted to fit where it stands: '' (bare), "'", '"' or '<<' (here-doc)."""

    param: Param
    context: str

    def source(self) -> str:
        p = self.param
        value = f"str({p.name})" if p.kind == "int" else p.name
        if self.context == "<<":
            return f"_word({value})"  # inside a here-document quotes are literal: only plain words may go in
        quoted = f"shlex.quote({value})"
        if self.context == "'":
            return f'"\'" + {quoted} + "\'"'  # close the single quotes, insert, reopen
        if self.context == '"':
            return f"'\"' + {quoted} + '\"'"
        return quoted

    def text(self, value: str) -> str:
        if self.context == "<<":
            return value
        quoted = shlex.quote(value)
        return {"'": f"'{quoted}'", '"': f'"{quoted}"'}.get(self.context, quoted)


Piece = str | Insert


def template(command: str, params: Params) -> tuple[list[Piece], list[Param]]:
    """The command as literal pieces and parameter insertions; the parameters it uses."""
    heredoc = "<<" in command
    states = quote_states(command)
    spots: list[tuple[int, int, Param]] = []
    for p in sorted(params.found, key=lambda p: -len(p.value)):
        for m in re.finditer(rf"(?<![\w.-]){re.escape(p.value)}(?![\w-])", command):
            if not any(s <= m.start() < e or s < m.end() <= e for s, e, _ in spots):
                spots.append((m.start(), m.end(), p))
    pieces: list[Piece] = []
    used: list[Param] = []
    at = 0
    for start, end, p in sorted(spots, key=lambda s: s[0]):
        pieces.append(command[at:start])
        pieces.append(Insert(p, "<<" if heredoc else states[start]))
        used += [p] if p not in used else []
        at = end
    pieces.append(command[at:])
    return [piece for piece in pieces if piece], used


# --- the episode ------------------------------------------------------------------------------------------


def commands_and_ending(traj: Trajectory) -> tuple[list[str], str, str]:
    """The bash scripts run, how the episode ended (answer-output | finish), and the last output."""
    commands: list[str] = []
    last_output = ""
    ending = ""
    for s in traj.steps:
        a = s.action
        if a is None:
            continue
        if a.name == "bash":
            script = str(a.args.get("script", "")).strip()
            if script:
                commands.append(script)
                last_output = s.observation.text
        elif a.name == "finish":
            ending = "finish"
        elif a.name == "answer":
            answer = str(a.args.get("answer", "")).strip()
            if not commands or answer != last_output.strip():
                raise NotCompilable("the answer is not the last command's output")
            ending = "answer-output"
    if not commands:
        raise NotCompilable("no shell commands")
    if len(commands) > MAX_COMMANDS:
        raise NotCompilable(f"{len(commands)} commands is too many for a tool")
    if not ending:
        raise NotCompilable("the episode ended without answer or finish")
    return commands, ending, last_output


def script_pieces(commands: list[str], params: Params) -> tuple[list[Piece], list[Param]]:
    pieces: list[Piece] = []
    used: list[Param] = []
    for i, command in enumerate(commands):
        last = i == len(commands) - 1
        body, found = template(command, params)
        used += [p for p in found if p not in used]
        pieces += body if last else ["{ ", *body, "\n} >/dev/null 2>&1\n"]
    return pieces, used


def script_text(pieces: list[Piece], args: dict[str, str | int]) -> str:
    """What the tool returns for these arguments (computed here, to write its test)."""
    return "".join(p if isinstance(p, str) else p.text(str(args[p.param.name])) for p in pieces)


def render(name: str, params: list[Param], pieces: list[Piece], doc: str, header: str) -> str:
    signature = ", ".join(f"{p.name}: {p.kind}" for p in params)
    parts = [repr(p) if isinstance(p, str) else p.source() for p in merge_text(pieces)]
    body = "\n".join(f"            {part}," for part in parts)
    needs_word = any(isinstance(p, Insert) and p.context == "<<" for p in pieces)
    helper = (
        "\n\ndef _word(value: str) -> str:\n"
        '    """A value going into a here-document must be one plain word."""\n'
        '    if not re.fullmatch(r"[\\w.,:@%+/=-]+", value):\n'
        '        raise ValueError(f"{value!r} cannot go into the script")\n'
        "    return value\n"
        if needs_word
        else ""
    )
    imports = "import re\nimport shlex\n" if needs_word else "import shlex\n"
    return (
        f'"""{header}"""\n\n{imports}{helper}\n\n'
        f"def {name}({signature}) -> str:\n"
        f"    {doc!r}\n"
        f"    return ''.join(\n        [\n{body}\n        ]\n    )\n"
    )


def merge_text(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for piece in pieces:
        if out and isinstance(piece, str) and isinstance(out[-1], str):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def tool_name(traj: Trajectory) -> str:
    template_id = traj.task.template_id
    base = (
        template_id
        if template_id and template_id != traj.task.id
        else " ".join(traj.task.instruction.split()[:6])
    )
    name = slug(base)
    if name in ACTION_VERBS or name in IMPERSONATED or not NAME.match(name):
        name = f"run_{name}"[:64]
    return name


def description(traj: Trajectory, params: list[Param], ending: str) -> str:
    text = traj.task.instruction
    for p in sorted(params, key=lambda p: -len(p.value)):
        text = text.replace(p.value, f"<{p.name}>")
    tail = " Its output is the answer." if ending == "answer-output" else " Finish after running it."
    return "Shell script for tasks like: " + " ".join(text.split())[:220] + tail


def compile_os(traj: Trajectory) -> Candidate:
    commands, ending, _output = commands_and_ending(traj)
    params = Params.from_instruction(traj.task.instruction)
    pieces, used = script_pieces(commands, params)
    chosen = params.name_used(used)
    name = tool_name(traj)
    header = f"Compiled from {traj.task.id} (trajectory {traj.id}): a shell script."
    source = render(name, chosen, pieces, description(traj, chosen, ending), header)
    args = {p.name: int(p.value) if p.kind == "int" else p.value for p in chosen}
    expected = script_text(pieces, args)
    call = ", ".join(f"{k}={v!r}" for k, v in args.items())
    tests = (
        f'"""The source episode\'s commands, rebuilt from its arguments."""\n\nfrom tool import {name}\n\n\n'
        f"def test_source_script():\n    assert {name}({call}) == {expected!r}\n"
    )
    tool = Tool(name=name, kind="os", description="", source=source, tests=tests, provenance=provenance(traj))
    cand = candidate(traj, tool, args)
    cand.replays = [r.model_copy(update={"finish": ending}) for r in cand.replays]
    return cand
