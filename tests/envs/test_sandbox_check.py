"""The escape and resource-bomb suite: contained in docker and bwrap, and able to see an escape."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentevo.envs.sandbox import open_sandbox
from agentevo.envs.sandbox.attacks import cases
from agentevo.envs.sandbox.check import CHECK_LIMITS, Context, harmless, run_backend
from tests.envs.conftest import DOCKER_MARKS, needs_bwrap

# A quick slice touching every group; the whole suite runs in the slow tier.
QUICK = {
    "fork-bomb-python",
    "stop-the-watchdog",
    "stdout-flood",
    "disk-fill-many-files",
    "orphan-daemon",
    "kill-the-parent",
    "other-sandbox",
    "tcp-host-loopback",
    "tcp-outside",
    "canary-file",
    "environment",
    "write-outside",
    "symlink-collect",
    "become-root",
    "tiocsti",
}
BACKENDS = [pytest.param("docker", marks=DOCKER_MARKS), pytest.param("bwrap", marks=needs_bwrap)]


@pytest.fixture
def context():
    ctx = Context(replace(CHECK_LIMITS, timeout_s=1.5))
    yield ctx
    ctx.close()


def check(backend: str, ctx: Context, selected):
    report = run_backend(backend, lambda: open_sandbox(backend, ctx.limits), ctx, selected)
    escaped = {c.id: c.evidence or c.error for c in report.cases if c.status != "contained"}
    return report, escaped


def test_there_are_at_least_30_distinct_attacks():
    ids = [c.id for c in cases()]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)
    assert QUICK <= set(ids)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slice_of_attacks_is_contained(request, backend, context):
    if backend == "docker":
        request.getfixturevalue("docker_image")
    report, escaped = check(backend, context, [c for c in cases() if c.id in QUICK])
    assert escaped == {}
    assert report.bombs_in_time and report.leftover_processes == [] and report.leftover_containers == []
    assert report.ok


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_attack_is_contained(request, backend, context):
    if backend == "docker":
        request.getfixturevalue("docker_image")
    report, escaped = check(backend, context, cases())
    assert escaped == {}
    assert report.ok


def test_the_check_sees_escapes_from_a_sandbox_without_isolation(context):
    """`local` isolates nothing: the judges must say so (only the cases that cannot harm the host)."""
    wanted = {"canary-file", "tcp-host-loopback", "see-host-processes", "interfaces", "tcp-outside"}
    report, escaped = check("local", context, [c for c in harmless(cases()) if c.id in wanted])
    assert set(escaped) == wanted
    assert "canary" in escaped["canary-file"] and "1 connection" in escaped["tcp-host-loopback"]
    assert not report.ok
