"""The web environment: Playwright driving Debian's Chromium, observed as WebArena's accessibility tree.

    env = PlaywrightWebEnvironment(driver, WebOptions(...), screenshot_root=runs_dir)
    obs = env.reset(task)               # fresh browser context; the driver opens the start pages
    obs = env.step(env.parse_action("```click [12]```"))
    env.score(trajectory)               # the driver's evaluator, on the live page

Observation: `text` is the tab header line (`Tab 0 (current): title | Tab 1: …`), a blank line, and the
accessibility tree (`[id] role 'name' props`, see `axtree`); `url`; `error` (the last action's failure);
`screenshot_path` (one PNG a step under `runs/<run_id>/screenshots/<episode>/`, option `screenshots`);
`meta` with `tabs`, `tab`, `objective`, `previous_action`, `truncated`, and for every id-based action
`target = {"role": …, "name": …}` — the element the id pointed at.

Actions: WebArena's id grammar (`actions`), and for tools that must outlive per-page ids (tool synthesis),
acting by role and accessible name:

    env.act_by_role("click", "button", "Submit")
    env.act_by_role("type", "textbox", "Search", "shoes")   # Enter after, like `type` (enter=False: none)
    env.act_by_role("hover", "link", "Orders")

which returns the same kind of Observation as `step`. `locate(page, role, name)` gives the Playwright
locator behind it (StaticText and LabelText match by exact text).
"""

from agentevo.envs.web.actions import format_action, parse_action
from agentevo.envs.web.env import PlaywrightWebEnvironment, StartUrlDriver, WebTaskDriver, locate
from agentevo.envs.web.options import WebOptions, web_options

__all__ = [
    "PlaywrightWebEnvironment",
    "StartUrlDriver",
    "WebOptions",
    "WebTaskDriver",
    "format_action",
    "locate",
    "parse_action",
    "web_options",
]
