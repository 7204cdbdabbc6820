"""Site sets: the sites of one environment served on free ports, a pool that leases them to environments,
and sites served by another process reached over HTTP."""

from __future__ import annotations

import atexit
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
        cookies = [self.sites[n].session_cookie(ACCOUNTS[n]["key"]) for n in chosen]
        return {"cookies": cookies, "origins": []}

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers = {}


class RemoteSites:
    """Sites another process serves (`agentevo sites up`), reached by URL and reset over HTTP. Their state
    is shared by everyone using them, so one worker at a time."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}

    def reset(self) -> float:
        return sum(remote_reset(url) for url in self.urls.values())

    def storage_state(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        cookies = []
        for name in names or tuple(self.urls):
            host = urlsplit(self.urls[name]).hostname or "127.0.0.1"
            cookies.append(SITES[name].session_cookie(ACCOUNTS[name]["key"], host))
        return {"cookies": cookies, "origins": []}

    def stop(self) -> None:
        pass


_idle: list[SiteSet] = []
_leased: set[int] = set()
_all: list[SiteSet] = []
_lock = threading.Lock()


def lease() -> SiteSet:
    """A site set for one environment's sole use (an idle one, or newly started); give it back with
    `release`. Every set started here stops when the process exits."""
    with _lock:
        if _idle:
            sites = _idle.pop()
        else:
            if not _all:
                atexit.register(stop_all)
            sites = SiteSet.start()
            _all.append(sites)
        _leased.add(id(sites))
        return sites


def release(sites: SiteSet) -> None:
    with _lock:
        if id(sites) in _leased:
            _leased.discard(id(sites))
            _idle.append(sites)


def stop_all() -> None:
    with _lock:
        for sites in _all:
            sites.stop()
        _all.clear()
        _idle.clear()
        _leased.clear()


def remote_health(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """What a site served elsewhere says at `/__health`; EnvError when nothing answers."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/__health", timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise EnvError(f"no local site answers at {url} ({getattr(exc, 'reason', exc)})") from None


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
