"""Local resettable web sites (a shop and a forum) served from this process, for the `local-web` suite.

    sites = SiteSet.start()          # every site on its own free port of 127.0.0.1
    sites.urls                       # {"shop": "http://127.0.0.1:…", "forum": "http://127.0.0.1:…"}
    sites.reset()                    # restore every seed (milliseconds)
    sites.storage_state()            # Playwright storage state logged into every site
    sites.stop()

Isolation between parallel workers: each worker gets its own SiteSet (its own ports and state) through
`for_worker(n)`; the sets live as long as the process and stop at exit. Assets (templates, seed data) are in
`environments/web/`.
"""

from __future__ import annotations

import atexit
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from agentevo.envs.sites.base import Site, assets_dir, load_seed
from agentevo.envs.sites.forum import Forum
from agentevo.envs.sites.http import Server
from agentevo.envs.sites.shop import Shop
from agentevo.errors import EnvError

SITES: dict[str, type[Site]] = {"shop": Shop, "forum": Forum}
# The account each site's tasks act as (the same ones WebArena uses for its shop and its Reddit clone).
ACCOUNTS = {
    "shop": {"username": "emma.lopez@gmail.com", "password": "Password.123", "key": "emma"},
    "forum": {"username": "MarvelsGrantMan136", "password": "test1234", "key": "MarvelsGrantMan136"},
}


@dataclass
class SiteSet:
    sites: dict[str, Site]
    servers: dict[str, Server] = field(default_factory=dict)

    @classmethod
    def start(cls, ports: dict[str, int] | None = None, host: str = "127.0.0.1") -> SiteSet:
        sites = {name: factory() for name, factory in SITES.items()}
        servers: dict[str, Server] = {}
        try:
            for name, site in sites.items():
                servers[name] = Server(site.app, (ports or {}).get(name, 0), host).start()
        except OSError as exc:
            for server in servers.values():
                server.stop()
            raise EnvError(f"cannot serve the local sites: {exc.strerror or exc}") from None
        return cls(sites, servers)

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    def reset(self) -> float:
        """Restore every site's seed; returns the seconds it took."""
        return sum(site.reset() for site in self.sites.values())

    def storage_state(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """A Playwright storage state with the session cookie of each named site's task account."""
        chosen = names or tuple(self.sites)
        cookies = [self.sites[n].storage_cookie(ACCOUNTS[n]["key"]) for n in chosen]
        return {"cookies": cookies, "origins": []}

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers = {}


_workers: dict[int, SiteSet] = {}
_lock = threading.Lock()


def for_worker(worker: int) -> SiteSet:
    """This process's site set for a worker, started on first use and stopped when the process exits."""
    with _lock:
        if worker not in _workers:
            if not _workers:
                atexit.register(stop_all)
            _workers[worker] = SiteSet.start()
        return _workers[worker]


def stop_all() -> None:
    with _lock:
        for sites in _workers.values():
            sites.stop()
        _workers.clear()


def remote_reset(url: str, timeout_s: float = 5.0) -> float:
    """Reset a site served by another process (`agentevo sites up`) through its HTTP endpoint."""
    started = time.perf_counter()
    request = urllib.request.Request(url.rstrip("/") + "/__reset", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except OSError as exc:
        raise EnvError(f"cannot reset the site at {url}: {getattr(exc, 'reason', exc)}") from None
    return time.perf_counter() - started


__all__ = [
    "ACCOUNTS",
    "SITES",
    "SiteSet",
    "assets_dir",
    "for_worker",
    "load_seed",
    "remote_reset",
    "stop_all",
]
