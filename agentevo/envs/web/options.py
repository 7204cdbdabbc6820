"""Settings of the web environment and its suites, read from `environment.options` of a run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentevo.errors import ConfigError

Flavour = Literal["webarena", "vab-lite", "browsergym-lite"]


class WebOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    flavour: Flavour = "webarena"
    """Which harness's evaluator rules score WebArena-format configs (written into the run manifest)."""
    judge: str | None = None
    """Model string of the LLM judge for fuzzy_match; none → the documented fallback rule."""
    max_obs_tokens: int = Field(1920, ge=0)
    """Token budget of the accessibility-tree text (about 4 characters a token); 0 = no limit."""
    viewport_only: bool = False
    """Show only the nodes inside the viewport."""
    screenshots: bool = True
    """Save a PNG per step under runs/<run_id>/screenshots/."""
    viewport_width: int = Field(1280, ge=100)
    viewport_height: int = Field(720, ge=100)
    timeout_ms: int = Field(10_000, ge=100)
    """How long one action may wait for its element."""
    navigation_timeout_ms: int = Field(30_000, ge=100)
    """How long a page load may take."""
    navigation_grace_ms: int = Field(50, ge=0)
    """After a click or Enter, how long to watch for a navigation to start before observing the page."""
    settle_ms: int = Field(0, ge=0)
    """Extra wait after each action before the page is observed (for slow scripts)."""
    storage_state_dir: str | None = None
    """Folder of Playwright storage-state files `<site>[.<site>]_state.json` for `require_login` tasks."""
    executable_path: str = "/usr/bin/chromium"
    headless: bool = True
    episode_max_time_ms: int = Field(3_600_000, ge=1000)
    """MiniWoB++: how long an episode may last before the page gives up (10 s in the original)."""


def web_options(options: dict[str, Any] | None) -> WebOptions:
    try:
        return WebOptions.model_validate(options or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        raise ConfigError(f"environment.options.{where}: {err['msg']}") from None
