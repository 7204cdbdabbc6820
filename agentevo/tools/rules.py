"""Static rules a tool and its tests must pass before anything runs: an allow-list of pure modules, no
eval/exec/dynamic import/attribute tricks, no environment variables, no paths outside the workdir, and for
shell tools no network, secret-reading or privilege commands in the script text.

A rule broken is a `Violation` with a short code (`forbidden-import`, `forbidden-call`, …) that the gate puts
first in the rejection reason, so a user (and a test) can see at once why a tool was refused. The sandbox
enforces the same limits again at run time; these rules only refuse what is plainly not a tool.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# Modules whose whole API is pure computation: no files, processes, network, environment or interpreter.
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
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "html",
        "itertools",
        "json",
        "math",
        "numbers",
        "operator",
        "random",
        "re",
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
TEST_MODULES = frozenset({"tool"})  # what a test file may import besides the safe modules

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
    return module in SAFE_MODULES or module in extra


class RuleVisitor(ast.NodeVisitor):
    """Collects every violation in one pass over a module."""

    def __init__(self, *, kind: str, extra_modules: frozenset[str]) -> None:
        self.kind = kind
        self.extra = extra_modules
        self.found: list[Violation] = []
        self.docstrings: set[int] = set()

    def visit_Module(self, node: ast.Module) -> None:
        for owner in ast.walk(node):
            if isinstance(owner, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                first = owner.body[0] if owner.body else None
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    self.docstrings.add(id(first.value))  # prose, checked as a description instead
        self.generic_visit(node)

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

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self.check_builtin_call(func.id, node)
        self.generic_visit(node)

    def check_builtin_call(self, name: str, node: ast.Call) -> None:
        if name == "open" and self.kind == "code" and workdir_literal(node):
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
        if is_dunder(node.attr) and node.attr not in ALLOWED_DUNDERS:
            self.add("dunder-access", node, f"access to {node.attr!r}")
        elif node.attr in ENV_NAMES:
            self.add("env-access", node, f"environment variables ({node.attr})")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if is_dunder(node.id) and node.id not in ALLOWED_DUNDERS:
            self.add("dunder-access", node, f"use of {node.id!r}")
        elif node.id in ENV_NAMES:
            self.add("env-access", node, f"environment variables ({node.id})")

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.docstrings:
            return
        text = node.value
        if SENSITIVE_PATH.search(text):
            self.add("sensitive-path", node, f"refers to a sensitive host path: {clip(text)!r}")
        elif PATH_TRAVERSAL.search(text):
            self.add("path-traversal", node, f"'..' leaves the working directory: {clip(text)!r}")
        elif self.kind == "os" and (why := shell_danger(text)):
            self.add("shell-danger", node, why)
        elif self.kind == "web" and re.search(r"(?i)\bjavascript:|\b(?:https?|file|ftp)://", text):
            self.add("external-url", node, f"web macros stay on the task's site: {clip(text)!r}")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.add("async", node, "async functions are not supported")

    def visit_Global(self, node: ast.Global) -> None:
        self.add("global-state", node, "global statements are not allowed")


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
