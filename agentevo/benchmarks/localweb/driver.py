"""How a local-web task runs: on this environment's own sites, reset at every `reset(task)`.

Tasks keep their `__SHOP__` / `__FORUM__` placeholders until an environment takes them, because each
environment leases its own site set on its own ports (so parallel workers never see each other's carts and
votes). The driver then puts its sites' URLs in, logs in through a storage state made from the signed
session cookie, opens the start page, and scores with the WebArena evaluators.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agentevo.benchmarks.localweb.templates import PLACEHOLDERS
from agentevo.benchmarks.webarena.configs import substitute
from agentevo.benchmarks.webarena.evaluators import evaluate
from agentevo.envs.sites import RemoteSites, SiteSet, lease, release
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions
from agentevo.records import Task, Trajectory

URL_VARS = {"shop": "AGENTEVO_SHOP_URL", "forum": "AGENTEVO_FORUM_URL"}


def external_urls() -> dict[str, str]:
    """Sites served elsewhere (`agentevo sites up`) that runs should use instead of their own."""
    return {site: os.environ[var] for site, var in URL_VARS.items() if os.environ.get(var)}


def localise(task: Task, urls: dict[str, str]) -> Task:
    """The task with its placeholders replaced by these sites' URLs (config, start URL and reference)."""
    mapping = {PLACEHOLDERS[site]: url for site, url in urls.items()}
    meta = json.loads(substitute(json.dumps(task.meta), mapping))
    meta["site_urls"] = mapping
    return task.model_copy(update={"meta": meta})


class LocalWebDriver:
    """A WebTaskDriver for local-web tasks on one site set."""

    def __init__(self, sites: SiteSet | RemoteSites) -> None:
        self.sites = sites
        self.last_reset_s = 0.0
        self._local: dict[str, Task] = {}

    def local(self, task: Task) -> Task:
        if task.id not in self._local:
            self._local[task.id] = localise(task, self.sites.urls)
        return self._local[task.id]

    def context_options(self, task: Task) -> dict[str, Any]:
        config = task.meta["config"]
        if not config.get("require_login"):
            return {}
        return {"storage_state": self.sites.storage_state(tuple(config.get("sites") or ()))}

    def start(self, env: PlaywrightWebEnvironment, task: Task) -> None:
        self.last_reset_s = self.sites.reset()
        env.details["site_reset_ms"] = round(1000 * self.last_reset_s, 3)
        env.open_start_urls(str(self.local(task).meta["start_url"]))

    def poll(self, env: PlaywrightWebEnvironment) -> tuple[bool, float | None]:
        return False, None

    def score(
        self, task: Task, trajectory: Trajectory, env: PlaywrightWebEnvironment
    ) -> tuple[float, dict[str, Any]]:
        return evaluate(self.local(task), trajectory, env)


class LocalWebEnvironment(PlaywrightWebEnvironment):
    """The web environment on a leased site set, which goes back to the pool when the environment closes."""

    def __init__(
        self, options: WebOptions, *, screenshot_root: Path | None = None, sites: RemoteSites | None = None
    ) -> None:
        self.sites = sites or lease()
        self.local_driver = LocalWebDriver(self.sites)
        super().__init__(self.local_driver, options, screenshot_root=screenshot_root)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if isinstance(self.sites, SiteSet):
                release(self.sites)
