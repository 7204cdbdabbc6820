"""Harness-owned drivers that call a tool, or run its tests, inside a sandbox.

The driver (not the tool) decides what a result is: it loads tool.py as module `tool`, runs the function or
every `test*` function with stdout captured, and writes one JSON line tagged with a nonce the tool never
sees, so a tool cannot forge a result by printing one. No pytest is needed inside the sandbox.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentevo.protocols import Sandbox
from agentevo.records import ExecResult

DRIVER_FILE = "_agentevo_driver.py"
PYTHON = ["python3", "-I", "-S", "-B", DRIVER_FILE]

DRIVER = r"""
import contextlib, importlib.util, io, json, sys, traceback

cfg = json.loads(sys.stdin.read())


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def short(exc):
    lines = traceback.format_exception_only(type(exc), exc)
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f"{f.filename}:{f.lineno}" for f in tb if not f.filename.endswith("driver.py")]
    where = frames[-1] if frames else ""
    return (("".join(lines).strip()) + (f" ({where})" if where else ""))[:600]


def encode(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def run_tests(tool):
    results = []
    for path in cfg["tests"]:
        module = load(path[:-3], path)
        for name, fn in list(vars(module).items()):
            if name.startswith("test") and callable(fn) and getattr(fn, "__module__", "") == module.__name__:
                try:
                    fn()
                    results.append({"file": path, "name": name, "ok": True})
                except BaseException as exc:
                    results.append({"file": path, "name": name, "ok": False, "error": short(exc)})
    return {"tests": results}


def call(tool):
    value = getattr(tool, cfg["entry"])(**cfg["args"])
    return {"ok": True, "value": value}


sink = io.StringIO()
try:
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        tool = load("tool", cfg["tool"])
        for alias in cfg.get("aliases", []):
            setattr(tool, alias, getattr(tool, cfg["entry"]))
        report = run_tests(tool) if cfg["mode"] == "tests" else call(tool)
except BaseException as exc:
    report = {"ok": False, "error": short(exc)}
report["printed"] = sink.getvalue()[-2000:]
sys.__stdout__.write("\n" + cfg["nonce"] + json.dumps(report, default=encode) + "\n")
"""


@dataclass
class TestReport:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None  # the run itself failed: import error, timeout, killed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed and bool(self.passed)

    def summary(self) -> str:
        if self.error:
            return self.error
        if self.failed:
            name, why = self.failed[0]
            more = f" (and {len(self.failed) - 1} more)" if len(self.failed) > 1 else ""
            return f"{name} failed: {why}{more}"
        if not self.passed:
            return "no test ran"
        return f"{len(self.passed)} passed"


@dataclass
class CallResult:
    ok: bool
    value: Any = None
    error: str = ""
    printed: str = ""
    ms: float = 0.0


def run_driver(sandbox: Sandbox, cfg: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    nonce = "@@agentevo-" + secrets.token_hex(8) + "@@"
    sandbox.write_file(DRIVER_FILE, DRIVER)
    result = sandbox.exec(PYTHON, timeout_s=timeout_s, stdin=json.dumps({**cfg, "nonce": nonce}).encode())
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(nonce):
            return json.loads(line[len(nonce) :]), ""
    return None, failure(result, timeout_s)


def failure(result: ExecResult, timeout_s: float) -> str:
    if result.timed_out:
        return f"timeout: did not finish within {timeout_s:g} s"
    if result.killed:
        return f"killed: {result.killed}"
    tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
    return "crashed: " + (" | ".join(tail) or f"exit code {result.exit_code}")


def run_tests(
    sandbox: Sandbox,
    *,
    source: str,
    entry: str,
    tests: Mapping[str, str],
    aliases: Sequence[str] = (),
    timeout_s: float = 30.0,
    tool_file: str = "tool.py",
) -> TestReport:
    """Run the test files (name → source) against `source`; every `test*` function is one test."""
    started = time.perf_counter()
    sandbox.write_file(tool_file, source)
    for name, text in tests.items():
        sandbox.write_file(name, text)
    cfg = {"mode": "tests", "tool": tool_file, "entry": entry, "tests": list(tests), "aliases": list(aliases)}
    data, error = run_driver(sandbox, cfg, timeout_s)
    report = TestReport(seconds=time.perf_counter() - started)
    if data is None:
        report.error = error
    elif "tests" not in data:
        report.error = f"tool.py failed to load: {data.get('error', '')}"
    else:
        for t in data["tests"]:
            label = f"{t['file'].removesuffix('.py')}::{t['name']}"
            if t["ok"]:
                report.passed.append(label)
            else:
                report.failed.append((label, t.get("error", "")))
    return report


def call_tool(
    sandbox: Sandbox, *, source: str, entry: str, args: Mapping[str, Any], timeout_s: float = 10.0
) -> CallResult:
    """Call the tool's function once with JSON arguments; its result comes back as JSON."""
    started = time.perf_counter()
    sandbox.write_file("tool.py", source)
    cfg = {"mode": "call", "tool": "tool.py", "entry": entry, "args": dict(args)}
    data, error = run_driver(sandbox, cfg, timeout_s)
    ms = (time.perf_counter() - started) * 1000
    if data is None:
        return CallResult(ok=False, error=error, ms=ms)
    if not data.get("ok"):
        return CallResult(ok=False, error=data.get("error", "failed"), printed=data.get("printed", ""), ms=ms)
    return CallResult(ok=True, value=data.get("value"), printed=data.get("printed", ""), ms=ms)
