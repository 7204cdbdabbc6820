"""Local resettable web sites (a shop and a forum) served from this process, for the `local-web` suite.

    sites = SiteSet.start()          # every site on its own free port of 127.0.0.1
    sites.urls                       # {"shop": "http://127.0.0.1:…", "forum": "http://127.0.0.1:…"}
    sites.reset()                    # restore every seed (milliseconds)
    sites.storage_state()            # Playwright storage state logged into every site
    sites.stop()

Isolation between parallel workers: each environment leases its own SiteSet (its own ports and state) with
`lease()` and gives it back with `release()`; idle sets are reused, and all stop when the process exits.
`RemoteSites` stands for sites another process serves (`agentevo sites up`; `served` finds them). Assets
(templates, seed data) are in `environments/web/`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCOUNTS",
    "SITES",
    "RemoteSites",
    "SiteSet",
    "assets_dir",
    "lease",
    "load_seed",
    "release",
    "remote_health",
    "remote_reset",
    "stop_all",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so the `agentevo` command (which registers `sites`) starts without jinja2.
    if name in __all__:
        from agentevo.envs.sites import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
