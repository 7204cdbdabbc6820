"""Static rules a tool and its tests must pass before anything runs: an allow-list of pure modules, no
eval/exec/dynamic import/attribute tricks, no environment variables, no paths outside the workdir, and for
shell tools no network, secret-reading or privilege commands in the script text.

A rule broken is a `Violation` with a short code (`forbidden-import`, `forbidden-call`, …) that the gate puts
first in the rejection reason, so a user (and a test) can see at once why a tool was refused. The sandbox
enforces the same limits again at run time; these rules only refuse what is plainly not a tool.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import types
from dataclasses import dataclass

from agentevo.kinds import kind as kind_spec

# Modules whose whole public API is pure computation: no files, processes, network, environment, clock
# waits, threads or interpreter access. (csv reads and writes any iterable of lines, not files.) A module
# reached *through* one of these (`shlex.os`, `typing.sys`, `dataclasses.builtins`) is refused by
# `member_problem`, as are private names (`random._os`).
SAFE_MODULES = frozenset(
    {
        "__future__",
        "abc",
        "array",
        "base64",
        "binascii",
        "bisect",
        "calendar",
        "cmath",
        "collections",
        "collections.abc",
        "colorsys",
        "copy",
        "csv",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "graphlib",
        "hashlib",
        "heapq",
        "hmac",
        "html",
        "ipaddress",
        "itertools",
        "json",
        "keyword",
        "math",
        "numbers",
        "operator",
        "pprint",
        "random",
        "re",
        "reprlib",
        "secrets",
        "shlex",
        "statistics",
        "string",
        "struct",
        "textwrap",
        "typing",
        "unicodedata",
        "urllib.parse",
        "zlib",
    }
)
# Modules of which only these names are pure: io.open / io.FileIO touch files, uuid.uuid1 / getnode may run
# `ip link`, contextlib.chdir changes the process's directory.
PARTLY_SAFE = {
    "io": frozenset({"StringIO", "BytesIO"}),
    "uuid": frozenset(
        {
            "UUID",
            "uuid3",
            "uuid4",
            "uuid5",
            "NAMESPACE_DNS",
            "NAMESPACE_URL",
            "NAMESPACE_OID",
            "NAMESPACE_X500",
        }
    ),
    "contextlib": frozenset({"contextmanager", "suppress", "closing", "nullcontext", "ExitStack"}),
}
TEST_MODULES = frozenset({"tool"})  # what a test file may import besides the safe modules

# Names from allowed modules that evaluate strings as code or reach objects by a computed name.
EVALUATING = {
    "get_type_hints": "evaluates annotation strings as code",
    "ForwardRef": "evaluates a string as code",
    "get_field": "reaches attributes named by a format string",
}
NAMED_ACCESSORS = ("attrgetter", "methodcaller")  # fine with literal plain names, like getattr
# Attributes that lead from any object to frames, code and the interpreter's globals and builtins.
INTERNALS = frozenset(
    {
        "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next",
        "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "co_code", "func_globals",
    }
)  # fmt: skip

FORBIDDEN_CALLS = {
    "eval": "eval runs arbitrary code",
    "exec": "exec runs arbitrary code",
    "compile": "compile builds code at run time",
    "__import__": "dynamic import",
    "globals": "reads the interpreter's globals",
    "locals": "reads the interpreter's locals",
    "vars": "reads object internals",
    "breakpoint": "opens a debugger",
    "input": "reads the terminal",
    "help": "starts the interactive help",
    "exit": "ends the interpreter",
    "quit": "ends the interpreter",
    "memoryview": "raw memory access",
    "open": "file access is not allowed for this kind of tool",
}
ATTRIBUTE_BUILTINS = ("getattr", "setattr", "delattr", "hasattr")
ALLOWED_DUNDERS = frozenset({"__name__", "__doc__", "__init__", "__post_init__", "__future__"})
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})

SENSITIVE_PATH = re.compile(
    r"(?:^|[\s'\"=:;(<>|&])(?:/etc/(?:passwd|shadow|gshadow|sudoers|ssh|hosts)|/proc/|/sys/|/root(?:/|\b)"
    r"|~/?\.(?:ssh|aws|gnupg|netrc|config)|/home/[^/\s]+/\.|/var/run/docker\.sock|/run/docker\.sock"
    r"|/dev/(?:tcp|udp|mem|kmem|sd|nvme))"
)
PATH_TRAVERSAL = re.compile(r"(?:^|[/\\\s'\"=])\.\.(?:[/\\]|$)")

# Shell text an OS tool may never produce: network, secrets, privilege, persistence, evaluation, bombs.
# Short command names count only in command position, so "look at" or "source.txt" stay harmless.
CMD = r"(?:^|[;&|(`{]\s*|\$\(\s*|\b(?:then|do|else|exec|xargs|time|nice|timeout\s+\S+)\s+)"


def command(*names: str) -> re.Pattern[str]:
    return re.compile(CMD + r"(?:" + "|".join(names) + r")(?=$|[\s;&|)`])", re.M)


SHELL_DANGER = [
    (
        command(
            "curl",
            "wget",
            "nc",
            "ncat",
            "netcat",
            "socat",
            "telnet",
            "ssh",
            "scp",
            "sftp",
            "ftp",
            "rsync",
            "nslookup",
            "dig",
            "host",
            "ping",
        ),
        "network",
    ),
    (re.compile(r"/dev/(?:tcp|udp)/"), "network"),
    (command("printenv"), "environment"),
    (
        re.compile(CMD + r"(?:env|set|export(?:\s+-p)?|declare\s+-[px]+)(?=\s*(?:$|[;&|>)]))", re.M),
        "environment",
    ),
    (re.compile(r"\$\{?(?!(?:HOME|PWD|OLDPWD|RANDOM|IFS|LINENO)\b)[A-Z_][A-Z0-9_]*"), "environment"),
    (re.compile(r"/proc/[^\s/]+/environ"), "environment"),
    (
        command(
            "sudo", "su", "doas", "setcap", "chroot", "nsenter", "unshare", "mount", "insmod", "modprobe"
        ),
        "privilege",
    ),
    (re.compile(r"\bchmod\s+(?:[ugoa]*\+[rwx]*s|[0-7]*[4-7][0-7]{3}\b)"), "privilege"),
    (command("crontab", "at", "systemctl", "service", "nohup", "disown", "setsid"), "persistence"),
    (command("eval", "source", r"\."), "evaluation"),
    (re.compile(r"\b(?:sh|bash|dash|zsh|python3?|perl|ruby|node)\s+-c\b"), "evaluation"),
    (re.compile(r"base64\s+(?:-d|--decode)\b"), "evaluation"),
    (re.compile(r"\brm\s+-[a-zA-Z]*[rf][a-zA-Z]*\s+(?:/|~|\*|\$HOME)(?:\s|$)"), "destructive"),
    (command("mkfs", "shutdown", "reboot", "halt", "poweroff", "dd"), "destructive"),
    (re.compile(r"\bkill\s+-\d+\s+-1\b|:\(\)\s*\{"), "destructive"),
]


@dataclass(frozen=True)
class Violation:
    code: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.code}: {where}{self.message}"


def shell_danger(script: str) -> str | None:
    """Why a shell script must not run, or None."""
    for pattern, what in SHELL_DANGER:
        match = pattern.search(script)
        if match:
            return f"{what} command {match.group(0).strip()!r}"
    path = SENSITIVE_PATH.search(script)
    if path:
        return f"reads a sensitive path {path.group(0).strip()!r}"
    if PATH_TRAVERSAL.search(script):
        return "path traversal ('..')"
    return None


def module_allowed(module: str, extra: frozenset[str]) -> bool:
    return module in SAFE_MODULES or module in PARTLY_SAFE or module in extra


@functools.cache
def member_problem(module: str, name: str) -> str | None:
    """Why `module.name` may not be used (module is a safe or partly safe module), or None."""
    if f"{module}.{name}" in SAFE_MODULES:
        return None
    if module in PARTLY_SAFE:
        allowed = PARTLY_SAFE[module]
        return None if name in allowed else f"only {', '.join(sorted(allowed))} of {module} may be used"
    if name.startswith("_"):
        return f"private name {module}.{name}"
    try:  # only the pure modules above are ever imported here
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None  # no such name: the tool's own tests fail on it
    if isinstance(value, types.ModuleType):
        return f"{module}.{name} is the module {value.__name__}"
    return None


def plain_names(args: list[ast.expr]) -> bool:
    """Literal attribute names without special parts, as getattr/attrgetter may take."""
    return bool(args) and all(
        isinstance(a, ast.Constant)
        and isinstance(a.value, str)
        and not any(is_dunder(part) for part in a.value.split("."))
        for a in args
    )


class RuleVisitor(ast.NodeVisitor):
    """Collects every violation in one pass over a module."""

    def __init__(self, *, kind: str, extra_modules: frozenset[str]) -> None:
        self.kind = kind
        self.extra = extra_modules
        self.found: list[Violation] = []
        self.docstrings: set[int] = set()
        self.modules: dict[str, str] = {}  # local name -> the allowed module it is bound to
        self.parents: dict[int, ast.AST] = {}

    def visit_Module(self, node: ast.Module) -> None:
        for owner in ast.walk(node):
            for child in ast.iter_child_nodes(owner):
                self.parents[id(child)] = owner
            if isinstance(owner, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                first = owner.body[0] if owner.body else None
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    self.docstrings.add(id(first.value))  # prose, checked as a description instead
            self.bind_modules(owner)  # before any use: a function may use a module imported below it
        self.generic_visit(node)
        for annotation in annotations(node):
            self.check_annotation_strings(annotation)

    def bind_modules(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in SAFE_MODULES or alias.name in PARTLY_SAFE:
                    if alias.asname:
                        self.modules[alias.asname] = alias.name
                    else:
                        head = alias.name.partition(".")[0]
                        self.modules[head] = head
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in SAFE_MODULES:
                    self.modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def module_of(self, node: ast.AST) -> str | None:
        """The allowed module an expression denotes (`json`, `collections.abc`), or None."""
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.module_of(node.value)
            if base is not None and f"{base}.{node.attr}" in SAFE_MODULES:
                return f"{base}.{node.attr}"
        return None

    def check_module_value(self, node: ast.AST, name: str) -> None:
        """A module may only be used as `module.name`: passed around, nothing checks what is reached."""
        parent = self.parents.get(id(node))
        if not (isinstance(parent, ast.Attribute) and parent.value is node):
            self.add("module-value", node, f"the module {name!r} is used as a value (or its name is reused)")

    def check_annotation_strings(self, annotation: ast.expr) -> None:
        """String annotations are code that typing and functools.singledispatch evaluate: check them too."""
        for node in ast.walk(annotation):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                try:
                    inner = ast.parse(node.value.strip(), mode="eval")
                except SyntaxError:
                    continue  # not an expression, so nothing evaluates it
                for sub in ast.walk(inner):
                    sub.lineno = node.lineno  # type: ignore[attr-defined]
                nested = RuleVisitor(kind=self.kind, extra_modules=self.extra)
                nested.modules, nested.parents = self.modules, self.parents
                for child in ast.walk(inner):
                    for grand in ast.iter_child_nodes(child):
                        nested.parents[id(grand)] = child
                nested.visit(inner.body)
                self.found += nested.found

    def add(self, code: str, node: ast.AST, message: str) -> None:
        self.found.append(Violation(code, getattr(node, "lineno", 0), message))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not module_allowed(alias.name, self.extra):
                self.add("forbidden-import", node, f"import of {alias.name!r} is not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.add("forbidden-import", node, "relative imports are not allowed")
            return
        for alias in node.names:
            if alias.name == "*":
                self.add("forbidden-import", node, f"'from {module} import *' is not allowed")
            elif not (
                module_allowed(module, self.extra) or module_allowed(f"{module}.{alias.name}", self.extra)
            ):
                self.add("forbidden-import", node, f"import of '{module}.{alias.name}' is not allowed")
            elif module not in self.extra and (why := member_problem(module, alias.name)):
                self.add("module-attribute", node, why)
            elif alias.name in NAMED_ACCESSORS and alias.asname not in (None, alias.name):
                self.add("dynamic-attribute", node, f"{alias.name} imported under another name")
            elif alias.name in EVALUATING:
                self.add("evaluates-code", node, f"{alias.name}: {EVALUATING[alias.name]}")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self.check_builtin_call(func.id, node)
        self.generic_visit(node)

    def check_builtin_call(self, name: str, node: ast.Call) -> None:
        if name == "open" and kind_spec(self.kind).tools_open_workdir and workdir_literal(node):
            return  # a relative literal path stays inside the sandbox's workdir
        if name in FORBIDDEN_CALLS:
            self.add("forbidden-call", node, f"{name}(): {FORBIDDEN_CALLS[name]}")
        elif name in ATTRIBUTE_BUILTINS:
            attr = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)) or is_dunder(attr.value):
                self.add("dynamic-attribute", node, f"{name}() with a computed or special attribute name")
        elif name == "type" and len(node.args) == 3:
            self.add("dynamic-attribute", node, "type() with three arguments builds classes at run time")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        base = self.module_of(node.value)
        if is_dunder(node.attr) and node.attr not in ALLOWED_DUNDERS:
            self.add("dunder-access", node, f"access to {node.attr!r}")
        elif node.attr in ENV_NAMES:
            self.add("env-access", node, f"environment variables ({node.attr})")
        elif base is not None and (why := member_problem(base, node.attr)):
            self.add("module-attribute", node, why)
        elif (whole := self.module_of(node)) is not None:
            self.check_module_value(node, whole)
        else:
            self.check_name(node.attr, node)
        if base is None or isinstance(node.value, ast.Attribute):
            self.generic_visit(node)  # a bare module name under its own attribute is fine

    def visit_Name(self, node: ast.Name) -> None:
        if is_dunder(node.id) and node.id not in ALLOWED_DUNDERS:
            self.add("dunder-access", node, f"use of {node.id!r}")
        elif node.id in ENV_NAMES:
            self.add("env-access", node, f"environment variables ({node.id})")
        elif node.id in self.modules:
            self.check_module_value(node, self.modules[node.id])
        else:
            self.check_name(node.id, node)

    def check_name(self, name: str, node: ast.expr) -> None:
        """Names that evaluate code or reach attributes by computed names, however they were imported."""
        if name in EVALUATING:
            self.add("evaluates-code", node, f"{name}: {EVALUATING[name]}")
        elif name in INTERNALS:
            self.add("interpreter-internals", node, f"access to {name!r}")
        elif name in NAMED_ACCESSORS:
            call = self.parents.get(id(node))
            if not (isinstance(call, ast.Call) and call.func is node and plain_names(call.args)):
                self.add("dynamic-attribute", node, f"{name}() with a computed or special attribute name")

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.docstrings:
            return
        text = node.value
        if SENSITIVE_PATH.search(text):
            self.add("sensitive-path", node, f"refers to a sensitive host path: {clip(text)!r}")
        elif PATH_TRAVERSAL.search(text):
            self.add("path-traversal", node, f"'..' leaves the working directory: {clip(text)!r}")
        elif (danger := kind_spec(self.kind).text_danger(text)) is not None:
            self.add(danger[0], node, danger[1])

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.add("async", node, "async functions are not supported")

    def visit_Global(self, node: ast.Global) -> None:
        self.add("global-state", node, "global statements are not allowed")


def annotations(tree: ast.Module) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            found.append(node.returns)
    return found


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def workdir_literal(node: ast.Call) -> bool:
    path = node.args[0] if node.args else None
    if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
        return False
    p = path.value
    return bool(p) and not p.startswith(("/", "~")) and ".." not in p.replace("\\", "/").split("/")


def parse(source: str, filename: str) -> ast.Module:
    """Parse or raise SyntaxError (the gate turns it into a `syntax` rejection)."""
    return ast.parse(source, filename=filename)


def check_module(tree: ast.Module, *, kind: str, tests: bool = False) -> list[Violation]:
    visitor = RuleVisitor(kind=kind, extra_modules=TEST_MODULES if tests else frozenset())
    visitor.visit(tree)
    return visitor.found


def check_tests(tree: ast.Module, entry: str) -> list[Violation]:
    """Tests must import the tool, call it, and never replace it (TL-03: tests that cannot fail)."""
    found: list[Violation] = []
    imported = imports_tool(tree, entry)
    if not imported:
        found.append(Violation("tests-no-import", 0, f"the tests never import {entry!r} from tool"))
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
    if not tests:
        found.append(Violation("no-tests", 0, "no test functions (def test_…)"))
    bound = {entry, "tool"}
    for node in ast.walk(tree):
        for target in assigned_targets(node):
            base = target.value if isinstance(target, ast.Attribute) else target
            if isinstance(base, ast.Name) and base.id in bound:
                found.append(Violation("tests-tamper", node.lineno, f"the tests rebind or patch {base.id!r}"))
    if tests and not any(calls_entry(t, imported) for t in tests):
        found.append(Violation("vacuous-tests", 0, f"no test calls {entry!r}"))
    return found


def imports_tool(tree: ast.Module, entry: str) -> set[str]:
    """Names under which the tests reach the tool: the entry itself, or the module `tool`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tool":
            names |= {a.asname or a.name for a in node.names if a.name == entry}
        elif isinstance(node, ast.Import):
            names |= {a.asname or a.name for a in node.names if a.name == "tool"}
    return names


def assigned_targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.col_offset == 0:
        return [ast.Name(id=node.name, lineno=node.lineno)]
    return []


def calls_entry(test: ast.FunctionDef, names: set[str]) -> bool:
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and node.id in names:
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
            return True
    return False
