"""Sandbox fixtures: the docker image (built here when an engine answers and it is missing)."""

from __future__ import annotations

import pytest

from agentevo.envs.sandbox.bwrap import available as bwrap_available
from agentevo.envs.sandbox.docker import engine_answers

ENGINE = engine_answers()
NO_ENGINE = "no Docker engine answers (start one with `.ci/dockerd`)"
needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
DOCKER_MARKS = [pytest.mark.docker, pytest.mark.skipif(not ENGINE, reason=NO_ENGINE)]


def needs_docker(test):
    """Mark a test `docker` and skip it, with the reason, when no engine answers."""
    for mark in DOCKER_MARKS:
        test = mark(test)
    return test


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The tag of the current recipe's image; builds it (minutes, once) when missing."""
    if not ENGINE:
        pytest.skip(NO_ENGINE)
    from agentevo.envs.sandbox.docker import client
    from agentevo.envs.sandbox.image import build_image

    engine = client()
    try:
        return build_image(engine).tag
    finally:
        engine.close()
