"""How a WebArena-format task runs in the web environment: login state, start tabs, scoring.

A suite whose sites need work before each episode (a local site's HTTP reset) passes `prepare(task)`; it
runs before the start pages open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentevo.benchmarks.webarena.evaluators import evaluate
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions
from agentevo.records import Task, Trajectory


def storage_state_file(config: dict[str, Any], folder: str | None) -> Path | None:
    """`<folder>/<site>[.<site>]_state.json` for a task that needs a login, when a folder is configured."""
    name = config.get("storage_state")
    if not folder or not config.get("require_login") or not name:
        return None
    return Path(folder).expanduser() / Path(str(name)).name


class WebArenaDriver:
    def __init__(self, options: WebOptions, prepare: Callable[[Task], None] | None = None) -> None:
        self.options = options
        self.prepare = prepare

    def context_options(self, task: Task) -> dict[str, Any]:
        config = task.meta["config"]
        opts: dict[str, Any] = {}
        state = storage_state_file(config, self.options.storage_state_dir)
        if state is not None:
            opts["storage_state"] = str(state)
        if config.get("geolocation"):
            opts["geolocation"] = config["geolocation"]
            opts["permissions"] = ["geolocation"]
        return opts

    def start(self, env: PlaywrightWebEnvironment, task: Task) -> None:
        config = task.meta["config"]
        if config.get("require_login") and config.get("storage_state") and not self.options.storage_state_dir:
            env.details["login"] = "no storage_state_dir set: the task ran logged out"
        if self.prepare is not None:
            self.prepare(task)
        env.open_start_urls(str(task.meta["start_url"]))

    def poll(self, env: PlaywrightWebEnvironment) -> tuple[bool, float | None]:
        return False, None

    def score(
        self, task: Task, trajectory: Trajectory, env: PlaywrightWebEnvironment
    ) -> tuple[float, dict[str, Any]]:
        return evaluate(task, trajectory, env)
