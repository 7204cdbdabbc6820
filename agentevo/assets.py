"""Where the run-time assets are: the one place that knows.

    environments/           the repository's top-level folder (os task templates and scripts, the local web
                            sites with their seed data and tasks, the sandbox image recipe)
    agentevo/environments   a link to it inside the package, so that it is package data: the wheel carries
                            the files themselves, and a checkout or an editable install reads them through it

Each kind of asset may be pointed elsewhere by an environment variable (a test's copy, a user's own tasks).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from agentevo.errors import EnvError

PARTS = ("os", "web", "sandbox")


def environments_root() -> Path:
    """The folder that holds `os/`, `web/` and `sandbox/`, in this checkout or in the installed package."""
    root = Path(str(files("agentevo") / "environments")).resolve()
    if not (root / "sandbox" / "recipe.yaml").is_file():
        raise EnvError(
            f"agentevo's environment assets are missing from {root}: reinstall the package, or in a "
            "checkout make agentevo/environments the link to ../environments that git stores"
        )
    return root


def environment_dir(part: str, override: str) -> Path:
    """`environments/<part>`, or the folder named by the environment variable `override` when it is set."""
    if part not in PARTS:
        raise ValueError(f"unknown environment assets {part!r}; known: {', '.join(PARTS)}")
    explicit = os.environ.get(override)
    return Path(explicit) if explicit else environments_root() / part
