"""Where the sites of `agentevo sites up` are served: the record it leaves in the workspace, or --url flags,
or the AGENTEVO_*_URL variables; and one JSON request to a served site."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agentevo.errors import ConfigError, EnvError
from agentevo.paths import workspace_dir

URL_ENV = {"shop": "AGENTEVO_SHOP_URL", "forum": "AGENTEVO_FORUM_URL"}


def state_file(workspace: Path | None) -> Path:
    return workspace_dir(workspace) / ".agentevo" / "sites.json"


def served_urls(workspace: Path | None, urls: list[str] | None) -> dict[str, str]:
    """The sites to talk to: --url flags, else the record `sites up` left, else the AGENTEVO_*_URL vars."""
    if urls:
        return {f"site{i}": u.rstrip("/") for i, u in enumerate(urls)}
    path = state_file(workspace)
    if path.is_file():
        try:
            return dict(json.loads(path.read_text())["urls"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path}: not a sites record; delete it and run `agentevo sites up`") from None
    from_env = {name: os.environ[var].rstrip("/") for name, var in URL_ENV.items() if os.environ.get(var)}
    if from_env:
        return from_env
    raise ConfigError("no local sites are running: start them with `agentevo sites up` (or pass --url)")


def request_json(url: str, method: str = "GET", timeout_s: float = 5.0) -> dict[str, Any]:
    import urllib.request  # here, not at the top: it pulls in ssl, and `agentevo --version` must stay fast

    data = b"" if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise EnvError(f"no site answers at {url} ({getattr(exc, 'reason', exc)})") from None
