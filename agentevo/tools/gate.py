"""The validation gate: nothing enters the archive without passing every check, in this order.

    name          a valid name that shadows no action, builtin or well-known tool (TL-05)
    parse         tool.py and test_tool.py are Python
    rules         static rules on both files (imports, calls, attributes, paths, shell text)
    structure     one typed function with a docstring; the schema comes from its annotations
    description   no instructions hidden in what the model will read (TL-05)
    tests         the tool's own tests pass in a fresh sandbox
    stubs         the same tests fail against a stub that returns None and one that raises (TL-03)
    old tests     a new version passes the previous version's tests
    replays       harness-owned: in a freshly reset environment the tool earns its source's reward again
                  (never 0; or the judge sees a success, in label-free runs); required for web and OS
                  tools, run for code tools compiled from a task

The first failure ends the check with a `GateRejection` whose `code` names the rule.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentevo.kinds import kind, known_kinds
from agentevo.records import Tool, utcnow
from agentevo.tools import names, rules
from agentevo.tools.candidate import Candidate
from agentevo.tools.execute import SandboxFactory, ToolExecutor
from agentevo.tools.replay import EnvFactory, ReplayJudge, ReplayResult, replay
from agentevo.tools.sandboxed import TestReport, run_tests
from agentevo.tools.signature import Signature, check_structure, entry_function

TESTS = "test_tool.py"


class GateRejection(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class GateReport:
    tool: Tool
    tests: TestReport
    replays: list[ReplayResult] = field(default_factory=list)


def reject_first(found: Sequence[rules.Violation]) -> None:
    """Reject on the first violation, naming the other rules broken too."""
    if found:
        first = found[0]
        others = list(dict.fromkeys(v.code for v in found[1:] if v.code != first.code))
        also = f" (also: {', '.join(others)})" if others else ""
        raise GateRejection(first.code, f"{first}{also}".removeprefix(f"{first.code}: "))


class Gate:
    def __init__(
        self,
        sandbox_factory: SandboxFactory,
        *,
        envs: EnvFactory | None = None,
        test_timeout_s: float = 30.0,
        call_timeout_s: float = 10.0,
        replay_judge: ReplayJudge | None = None,
    ) -> None:
        self.sandbox_factory = sandbox_factory
        self.envs = envs
        self.replay_judge = replay_judge
        self.test_timeout_s = test_timeout_s
        self.executor = ToolExecutor(sandbox_factory, timeout_s=call_timeout_s)

    def check(self, candidate: Candidate, *, previous: Tool | None = None) -> GateReport:
        draft = candidate.tool
        if draft.kind not in known_kinds():
            raise GateRejection("bad-kind", f"kind must be one of {', '.join(known_kinds())}")
        reject_first(names.name_violations(draft.name))
        sig = self.static(draft)
        description = (draft.description or sig.description).strip()
        reject_first(names.description_violations(description))
        if description != sig.description:
            reject_first(names.description_violations(sig.description))
        tool = draft.model_copy(
            update={"parameters": sig.parameters, "description": description, "status": "active"}
        )
        report = self.dynamic(tool, previous)
        if kind(tool.kind).needs_replay and not candidate.replays:
            raise GateRejection("no-replay", f"{tool.kind} tools need a replay of their source trajectory")
        for spec in candidate.replays:
            report.replays.append(self.replay(tool, spec))
        report.tool = tool.model_copy(update={"verified_at": utcnow()})
        return report

    # --- before anything runs ---------------------------------------------------------------------------
    def static(self, tool: Tool) -> Signature:
        trees = {}
        for label, text in (("tool.py", tool.source), (TESTS, tool.tests)):
            try:
                trees[label] = rules.parse(text, label)
            except SyntaxError as exc:
                raise GateRejection("syntax", f"{label} line {exc.lineno}: {exc.msg}") from None
        reject_first(rules.check_module(trees["tool.py"], kind=tool.kind))
        reject_first(rules.check_module(trees[TESTS], kind=tool.kind, tests=True))
        sig, found = check_structure(trees["tool.py"], tool.name, tool.kind)
        reject_first(found)
        reject_first(rules.check_tests(trees[TESTS], tool.name))
        assert sig is not None
        return sig

    # --- in the sandbox ---------------------------------------------------------------------------------
    def tests(
        self, source: str, entry: str, tests: dict[str, str], aliases: Sequence[str] = ()
    ) -> TestReport:
        with contextlib.closing(self.sandbox_factory()) as sandbox:
            return run_tests(
                sandbox,
                source=source,
                entry=entry,
                tests=tests,
                aliases=aliases,
                timeout_s=self.test_timeout_s,
            )

    def dynamic(self, tool: Tool, previous: Tool | None) -> GateReport:
        own = self.tests(tool.source, tool.name, {TESTS: tool.tests})
        if not own.ok:
            code = failure_code(own)
            raise GateRejection(code, own.summary().removeprefix(f"{code}: "))
        for label, stub in stubs(tool.source, tool.name):
            against = self.tests(stub, tool.name, {TESTS: tool.tests})
            if against.passed and not against.failed and not against.error:
                raise GateRejection("vacuous-tests", f"the tests also pass when {tool.name}() {label}")
        if previous is not None and previous.tests.strip():
            old_file = f"test_tool_v{previous.version}.py"
            old = self.tests(tool.source, tool.name, {old_file: previous.tests})
            if not old.ok:
                raise GateRejection("old-tests-failed", f"v{previous.version}'s tests: {old.summary()}")
        return GateReport(tool=tool, tests=own)

    def replay(self, tool: Tool, spec: object) -> ReplayResult:
        if self.envs is None:
            raise GateRejection("replay-failed", "no environment to replay in")
        result = replay(tool, spec, self.envs, self.executor, self.replay_judge)  # type: ignore[arg-type]
        if not result.ok:
            raise GateRejection("replay-failed", result.detail)
        return result


def failure_code(report: TestReport) -> str:
    for code in ("timeout", "killed"):
        if report.error and report.error.startswith(code):
            return code
    return "tests-failed"


def stubs(source: str, entry: str) -> list[tuple[str, str]]:
    """tool.py with the entry's body replaced: once by `return None`, once by `raise NotImplementedError`."""
    out = []
    for label, body in (("returns None", "return None"), ("raises", "raise NotImplementedError")):
        tree = ast.parse(source)
        fn = entry_function(tree, entry)
        assert fn is not None
        fn.body = ast.parse(body).body
        out.append((label, ast.unparse(tree)))
    return out
