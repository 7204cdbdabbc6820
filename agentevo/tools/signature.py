"""A tool's one public function: found by name, checked for types and a docstring, turned into the JSON
schema the model sees. The schema is always derived from the annotations, never taken on trust from tool.json.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from agentevo.kinds import kind as kind_spec
from agentevo.tools.rules import Violation

NAME = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
LISTS = {"list", "List", "tuple", "Tuple", "Sequence", "set", "Set", "frozenset", "Iterable"}
DICTS = {"dict", "Dict", "Mapping"}
RETURNS = {"os": ("str",), "web": ("list", "List")}  # what a shell or web macro must hand back


@dataclass(frozen=True)
class Signature:
    entry: str
    parameters: dict[str, Any]
    docstring: str

    @property
    def description(self) -> str:
        return describe(self.docstring)


class Unsupported(ValueError):
    pass


def entry_function(tree: ast.Module, entry: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            return node
    return None


def check_structure(tree: ast.Module, entry: str, kind: str) -> tuple[Signature | None, list[Violation]]:
    """The entry function's signature, or the violations that keep it from being a tool."""
    found: list[Violation] = []
    found += top_level_code(tree)
    fn = entry_function(tree, entry)
    if fn is None:
        return None, [*found, Violation("no-function", 0, f"tool.py defines no function {entry!r}")]
    doc = ast.get_docstring(fn) or ""
    if not doc.strip():
        found.append(Violation("no-docstring", fn.lineno, f"{entry}() has no docstring"))
    found += parameter_violations(fn, kind)
    found += return_violations(fn, kind)
    if found:
        return None, found
    try:
        schema = parameters_schema(fn)
    except Unsupported as exc:
        return None, [Violation("untyped-parameter", fn.lineno, str(exc))]
    return Signature(entry=entry, parameters=schema, docstring=doc), []


def top_level_code(tree: ast.Module) -> list[Violation]:
    """Importing tool.py must do nothing but define things (no calls, loops or I/O at import time)."""
    found = []
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
            continue
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # module docstring
        if isinstance(node, ast.Assign | ast.AnnAssign) and not any(
            isinstance(n, ast.Call | ast.Lambda) for n in ast.walk(node)
        ):
            continue  # a constant
        found.append(
            Violation("top-level-code", node.lineno, "only definitions and constants at module level")
        )
    return found


def parameter_violations(fn: ast.FunctionDef, kind: str) -> list[Violation]:
    found = []
    args = fn.args
    if args.vararg or args.kwarg or args.posonlyargs:
        found.append(
            Violation("untyped-parameter", fn.lineno, "*args, **kwargs and positional-only are not allowed")
        )
    for arg in [*args.args, *args.kwonlyargs]:
        if arg.annotation is None:
            found.append(Violation("untyped-parameter", fn.lineno, f"parameter {arg.arg!r} has no type"))
        if kind_spec(kind).by_role_and_name and (arg.arg == "id" or arg.arg.endswith("_id")):
            found.append(
                Violation(
                    "page-id-parameter",
                    fn.lineno,
                    f"{arg.arg!r}: {kind} macros address elements by role and name",
                )
            )
    for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
        if not isinstance(default, ast.Constant):
            found.append(Violation("untyped-parameter", fn.lineno, "defaults must be constants"))
    return found


def return_violations(fn: ast.FunctionDef, kind: str) -> list[Violation]:
    if fn.returns is None:
        return [Violation("untyped-return", fn.lineno, f"{fn.name}() has no return type")]
    wanted = RETURNS.get(kind)
    base = annotation_base(fn.returns)
    if wanted and base not in wanted:
        return [
            Violation(
                "wrong-return-type",
                fn.lineno,
                f"a {kind} tool returns {wanted[0]}, not {ast.unparse(fn.returns)}",
            )
        ]
    return []


def annotation_base(node: ast.expr) -> str:
    if isinstance(node, ast.Subscript):
        return annotation_base(node.value)
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split("[", 1)[0]
    return ""


def parameters_schema(fn: ast.FunctionDef) -> dict[str, Any]:
    args = fn.args
    positional = args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    props: dict[str, Any] = {}
    required: list[str] = []
    pairs = [*zip(positional, defaults, strict=True), *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    for arg, default in pairs:
        assert arg.annotation is not None
        props[arg.arg] = schema_of(arg.annotation)
        if default is None:
            required.append(arg.arg)
        else:
            props[arg.arg]["default"] = default.value  # type: ignore[attr-defined]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def schema_of(node: ast.expr) -> dict[str, Any]:
    """JSON schema of an annotation built from str/int/float/bool, lists, dicts, Optional and Literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return schema_of(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return {"anyOf": [schema_of(node.left), schema_of(node.right)]}
    base = annotation_base(node)
    if base in SCALARS and not isinstance(node, ast.Subscript):
        return {"type": SCALARS[base]}
    if base == "Any":
        return {}
    inner = subscript_args(node)
    if base in LISTS:
        items = inner[0] if inner else None
        return {
            "type": "array",
            **({"items": schema_of(items)} if items is not None and base != "Tuple" else {}),
        }
    if base in DICTS:
        value = inner[1] if len(inner) == 2 else None
        return {"type": "object", **({"additionalProperties": schema_of(value)} if value is not None else {})}
    if base == "Optional" and inner:
        return {"anyOf": [schema_of(inner[0]), {"type": "null"}]}
    if base == "Union" and inner:
        return {"anyOf": [schema_of(i) for i in inner]}
    if base == "Literal" and inner and all(isinstance(i, ast.Constant) for i in inner):
        return {"enum": [i.value for i in inner]}  # type: ignore[attr-defined]
    raise Unsupported(f"parameter type {ast.unparse(node)!r} has no JSON form")


def subscript_args(node: ast.expr) -> list[ast.expr]:
    if not isinstance(node, ast.Subscript):
        return []
    s = node.slice
    return list(s.elts) if isinstance(s, ast.Tuple) else [s]


def describe(docstring: str, limit: int = 300) -> str:
    """The first paragraph of a docstring, without doctest lines, as one line."""
    lines: list[str] = []
    for line in docstring.strip().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith((">>>", "Example", "For example")):
            if lines:
                break
            continue
        lines.append(stripped)
    text = " ".join(lines)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
