"""MiniWoB++: the task pages of the `miniwob` wheel, served on 127.0.0.1, in the web environment.

The pages' `html/` folder is served by one threaded http.server per process (the flight pages need http,
not file://). An episode loads `miniwob/<task>.html`, hides the human display (reward, timer, start cover),
seeds the page's random generator (`Math.seedrandom(seed)`, as the miniwob package does), raises
`core.EPISODE_MAX_TIME` (the original 10 s would expire while a slow model thinks; option
`episode_max_time_ms`), and starts the episode (`core.startEpisodeReal()`, then waits for
`WOB_TASK_READY`). The instruction is the page's `core.getUtterance()`, shown as the OBJECTIVE. After each
action the page's `WOB_DONE_GLOBAL` ends the episode; the reward is `WOB_RAW_REWARD_GLOBAL` (not
time-discounted), floored at 0, so success means raw reward > 0. Observation and actions are those of
WebArena (accessibility tree, id grammar), so one agent runs both.

Tasks and splits: one Task per page and split, id `<page>/<split>`, template `<page>`. An evolution loop
learns on instances of a page, is gated on others and tested on others again, so all three splits hold
every page and differ by seeds: a test episode's page seed is the run seed + 1,000,000, a validation
episode's the run seed + 2,000,000, a train episode's the run seed itself (practice stays below 1,000,000
samples), so no two splits share an instance. The page's data mode (`WOB_DATA_MODE`) is `train` on the
train split and `test` on both held-out splits, so the *-transfer and *-nl-turk pages draw their held-out
distribution there.

Left out (`EXCLUDED`, with the reason): pages that need a mouse drag, a drawing, or a click at canvas
coordinates; pages whose content is only drawn (shapes, colours, angles) and so absent from the
accessibility tree; and pages that need a held modifier key or text selection. Suite `miniwob-lite` is a
fixed set of 20 quick pages for demos and CI.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agentevo.benchmarks import SPLITS, EnvContext, Suite, register_suite
from agentevo.config import RunConfig
from agentevo.envs.web import PlaywrightWebEnvironment, web_options
from agentevo.errors import EnvError, SuiteError
from agentevo.protocols import Environment
from agentevo.records import Task, Trajectory

TEST_SEED_OFFSET = 1_000_000
SEED_OFFSETS = {"train": 0, "test": TEST_SEED_OFFSET, "validation": 2 * TEST_SEED_OFFSET}
EXCLUDED = {
    **dict.fromkeys(
        (
            "drag-box",
            "drag-circle",
            "drag-cube",
            "drag-items",
            "drag-items-grid",
            "drag-shapes",
            "drag-shapes-2",
            "drag-single-shape",
            "drag-sort-numbers",
            "draw-circle",
            "draw-line",
            "resize-textarea",
            "use-slider",
            "use-slider-2",
            "form-sequence",
            "daily-calendar",
            "highlight-text",
            "highlight-text-2",
        ),
        "needs a mouse drag, e.g. a slider (no drag action in the grammar)",
    ),
    **dict.fromkeys(
        (
            "bisect-angle",
            "circle-center",
            "right-angle",
            "find-midpoint",
            "use-colorwheel",
            "use-colorwheel-2",
        ),
        "needs a click at canvas/SVG coordinates (actions address elements by id)",
    ),
    **dict.fromkeys(
        (
            "chase-circle",
            "moving-items",
            "click-color",
            "click-shades",
            "click-shape",
            "click-pie",
            "click-pie-nodelay",
            "count-shape",
            "count-sides",
            "identify-shape",
            "visual-addition",
            "simon-says",
            "grid-coordinate",
            "hover-shape",
            "hot-cold",
            "tic-tac-toe",
            "number-checkboxes",
        ),
        "what matters is only drawn (shapes, colours, motion, nameless cells): not in the accessibility tree",
    ),
    **dict.fromkeys(
        ("click-scroll-list", "text-editor"),
        "needs a held modifier key or a text selection (no such action)",
    ),
}
LITE = (
    "click-button",
    "click-button-sequence",
    "click-checkboxes",
    "click-collapsible-nodelay",
    "click-dialog",
    "click-link",
    "click-option",
    "click-tab",
    "click-test",
    "click-test-2",
    "click-widget",
    "enter-password",
    "enter-text",
    "enter-text-2",
    "focus-text",
    "focus-text-2",
    "login-user",
    "navigate-tree",
    "choose-list",
    "unicode-test",
)
HIDE_DISPLAY = "#reward-display, #click-canvas, #sync-task-cover { display: none !important; }"
START = """([seed, mode, maxTime]) => {
  Math.seedrandom(seed);
  core.setDataMode(mode);
  core.EPISODE_MAX_TIME = maxTime;
  core.startEpisodeReal();
}"""
STATUS = "() => [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_GLOBAL, WOB_REWARD_REASON]"


@functools.cache
def html_dir() -> Path:
    spec = importlib.util.find_spec("miniwob")
    folder = Path(spec.origin).parent / "html" if spec and spec.origin else None
    if folder is None or not (folder / "miniwob").is_dir():
        raise SuiteError("suite miniwob needs the package miniwob (pip install --no-deps miniwob)")
    return folder


def pages() -> list[str]:
    return sorted(p.stem for p in (html_dir() / "miniwob").glob("*.html"))


class QuietHandler(SimpleHTTPRequestHandler):
    # the pages are UTF-8 without a <meta charset>: say so, or unicode-test reads as mojibake
    extensions_map = {  # noqa: RUF012 — the base class's attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".js": "application/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
    }

    def log_message(self, *args: Any) -> None:
        pass


_server_lock = threading.Lock()
_server: ThreadingHTTPServer | None = None


def serve() -> str:
    """The base URL of this process's MiniWoB++ server (started on first use, on 127.0.0.1)."""
    global _server
    with _server_lock:
        if _server is None:
            handler = functools.partial(QuietHandler, directory=str(html_dir()))
            _server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, name="miniwob-http", daemon=True).start()
        return f"http://127.0.0.1:{_server.server_address[1]}"


def page_seed(task: Task) -> int:
    seed = int(task.meta.get("seed", 0))
    return seed + SEED_OFFSETS[task.split]


def data_mode(task: Task) -> str:
    return "train" if task.split == "train" else "test"


class MiniWoBDriver:
    def __init__(self, episode_max_time_ms: int) -> None:
        self.episode_max_time_ms = episode_max_time_ms

    def context_options(self, task: Task) -> dict[str, Any]:
        return {}

    def start(self, env: PlaywrightWebEnvironment, task: Task) -> None:
        page = env.page
        url = f"{serve()}/miniwob/{task.template_id}.html"
        try:
            page.goto(url, wait_until="load")
            page.add_style_tag(content=HIDE_DISPLAY)
            page.evaluate(START, [page_seed(task), data_mode(task), self.episode_max_time_ms])
            page.wait_for_function("() => WOB_TASK_READY", timeout=10_000)
            utterance = page.evaluate("() => core.getUtterance()")
            env.objective = str(utterance["utterance"] if isinstance(utterance, dict) else utterance)
        except Exception as exc:
            raise EnvError(
                f"MiniWoB++ page {task.template_id} did not start: {str(exc).splitlines()[0]}"
            ) from None
        env.details["utterance"] = env.objective
        env.details["page_seed"] = page_seed(task)

    def status(self, env: PlaywrightWebEnvironment) -> dict[str, Any]:
        done, raw, reward, reason = env.page.evaluate(STATUS)
        return {"done": bool(done), "raw_reward": float(raw), "env_reward": float(reward), "reason": reason}

    def poll(self, env: PlaywrightWebEnvironment) -> tuple[bool, float | None]:
        try:
            state = self.status(env)
        except Exception:  # the agent navigated away from the task page: nothing to read
            return False, None
        return state["done"], (max(0.0, state["raw_reward"]) if state["done"] else None)

    def score(
        self, task: Task, trajectory: Trajectory, env: PlaywrightWebEnvironment
    ) -> tuple[float, dict[str, Any]]:
        try:
            state = self.status(env)
        except Exception:
            return 0.0, {"error": "the episode left the task page"}
        reward = max(0.0, state["raw_reward"]) if state["done"] else 0.0
        return reward, {**state, "utterance": env.details.get("utterance", "")}


def make_env(ctx: EnvContext) -> Environment:
    options = web_options(ctx.options)
    return PlaywrightWebEnvironment(
        MiniWoBDriver(options.episode_max_time_ms), options, screenshot_root=ctx.run_dir
    )


def check_options(cfg: RunConfig) -> None:
    web_options(cfg.environment.options)  # a typo in a web option fails before anything runs


def to_tasks(suite: str, names: list[str]) -> list[Task]:
    return [
        Task(
            id=f"{name}/{split}",
            suite=suite,
            kind="web",
            instruction=f"MiniWoB++ {name}: follow the instruction shown on the page.",
            template_id=name,
            split=split,
            meta={"page": name},
        )
        for name in names
        for split in SPLITS
    ]


def load_all() -> list[Task]:
    return to_tasks("miniwob", [p for p in pages() if p not in EXCLUDED])


def load_lite() -> list[Task]:
    available = set(pages())
    return to_tasks("miniwob-lite", [p for p in LITE if p in available])


MINIWOB = register_suite(
    Suite(
        name="miniwob",
        kind="web",
        description="MiniWoB++ pages (miniwob package) that work with the id action grammar; offline",
        load=load_all,
        make_env=make_env,
        check=check_options,
        prompt_set="web",
        seeded=True,
    )
)
MINIWOB_LITE = register_suite(
    Suite(
        name="miniwob-lite",
        kind="web",
        description="20 quick MiniWoB++ pages for demos and CI; offline",
        load=load_lite,
        make_env=make_env,
        check=check_options,
        prompt_set="web",
        seeded=True,
    )
)
