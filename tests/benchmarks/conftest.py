"""The sandbox fixtures of tests/envs, for suites that run in sandboxes."""

from tests.envs.conftest import docker_image

__all__ = ["docker_image"]
