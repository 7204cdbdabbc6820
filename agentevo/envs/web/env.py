"""PlaywrightWebEnvironment: one Chromium per environment, a fresh browser context per episode.

A suite plugs in through a `WebTaskDriver`: it says how a task's browser context is made (storage state),
which pages open at the start, whether the page itself declares the episode over (MiniWoB++), and how the
final state scores. Every action failure (a missing id, a navigation error, a timeout) comes back as
`Observation.error`; nothing here raises into the agent loop.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentevo.envs.web import actions as grammar
from agentevo.envs.web import guard
from agentevo.envs.web.axtree import AXNode, AXTree, build, visible_backend_ids
from agentevo.envs.web.browser import BrowserThread, launch
from agentevo.envs.web.options import WebOptions
from agentevo.records import Action, Observation, Task, Trajectory

log = logging.getLogger(__name__)

AND = " |AND| "
SELECT_OPTION = """function () {
  const select = this.closest('select');
  if (!select) return false;
  select.value = this.value; this.selected = true;
  select.dispatchEvent(new Event('input', {bubbles: true}));
  select.dispatchEvent(new Event('change', {bubbles: true}));
  return true;
}"""


class WebTaskDriver(Protocol):
    """What a suite adds to the web environment for its tasks."""

    def context_options(self, task: Task) -> dict[str, Any]: ...
    def start(self, env: PlaywrightWebEnvironment, task: Task) -> None: ...
    def poll(self, env: PlaywrightWebEnvironment) -> tuple[bool, float | None]: ...
    def score(
        self, task: Task, trajectory: Trajectory, env: PlaywrightWebEnvironment
    ) -> tuple[float, dict[str, Any]]: ...


class StartUrlDriver:
    """Opens `task.meta["start_url"]` (` |AND| ` → one tab each); no evaluator of its own (reward 0)."""

    def context_options(self, task: Task) -> dict[str, Any]:
        return {}

    def start(self, env: PlaywrightWebEnvironment, task: Task) -> None:
        env.open_start_urls(str(task.meta.get("start_url") or "about:blank"))

    def poll(self, env: PlaywrightWebEnvironment) -> tuple[bool, float | None]:
        return False, None

    def score(
        self, task: Task, trajectory: Trajectory, env: PlaywrightWebEnvironment
    ) -> tuple[float, dict[str, Any]]:
        return 0.0, {"evaluator": "none"}


@dataclass
class ActionFailed(Exception):
    """An action could not be carried out; becomes the observation's error."""

    message: str


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "episode"


class PlaywrightWebEnvironment:
    """The web environment (kind "web").

    Public beyond the Environment protocol, for evaluators, tools and tests (each safe from any thread):
    `call(fn, *args)` runs fn on the browser's thread; `act_by_role(action, role, name, text=None,
    enter=True)` acts on the element with that ARIA role and accessible name; `open(url)`; `page`,
    `answer`, `task`, `objective` (what the prompt shows as OBJECTIVE), `tree` (the last observation's ids).
    """

    kind = "web"

    def __init__(
        self,
        driver: WebTaskDriver | None = None,
        options: WebOptions | None = None,
        *,
        screenshot_root: Path | None = None,
    ) -> None:
        self.driver = driver or StartUrlDriver()
        self.options = options or WebOptions()
        self.screenshot_root = screenshot_root
        self.thread = BrowserThread()
        self.closed = False
        self.playwright: Any = None
        self.browser: Any = None
        self.context: Any = None
        self.page: Any = None
        self.task: Task | None = None
        self.objective = ""
        self.tree = AXTree(text="", nodes={})
        self.answer: str | None = None
        self.stopped = False
        self.steps = 0
        self.details: dict[str, Any] = {}
        self._cdp: dict[int, Any] = {}
        self._navigations = [0, 0]  # main-frame navigations started, and finished (committed or failed)

    # --- the Environment protocol ---------------------------------------------------------------------
    def reset(self, task: Task) -> Observation:
        return self.thread.call(self._reset, task)

    def parse_action(self, text: str) -> Action:
        return grammar.parse_action(text)

    def step(self, action: Action) -> Observation:
        return self.thread.call(self._step, action)

    def score(self, trajectory: Trajectory) -> float:
        return self.thread.call(self._score, trajectory)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.thread.call(self._close_browser)
        finally:
            self.thread.shutdown()

    # --- public helpers -------------------------------------------------------------------------------
    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.thread.call(fn, *args, **kwargs)

    def act_by_role(
        self, action: str, role: str, name: str, text: str | None = None, *, enter: bool = True, nth: int = 0
    ) -> Observation:
        """Click, hover or type into the element with this role and accessible name (exact match); `nth`
        picks among several such elements (0 = the first in document order)."""
        return self.thread.call(self._act_by_role, action, role, name, text, enter, nth)

    def open(self, url: str) -> Observation:
        """A fresh context showing `url` (for scoring a final state without an agent)."""
        task = Task(id="open", suite="", kind="web", instruction="", meta={"start_url": url})
        return self.thread.call(self._reset, task, StartUrlDriver())

    def open_start_urls(self, start_url: str) -> None:
        """One tab per ` |AND| `-separated URL, the first one current (call on the browser thread)."""
        urls = [u.strip() for u in start_url.split(AND) if u.strip()] or ["about:blank"]
        for i, url in enumerate(urls):
            page = self.page if i == 0 else self.context.new_page()
            try:
                page.goto(url, wait_until="load")
            except Exception as exc:
                self.details.setdefault("start_errors", []).append(f"{url}: {first_line(exc)}")
        self.switch_to(self.context.pages[0])

    def switch_to(self, page: Any) -> None:
        self.page = page
        try:
            page.bring_to_front()
        except Exception:  # a closing page cannot come to the front; the next observation says so
            log.debug("bring_to_front failed", exc_info=True)

    def cdp(self, page: Any | None = None) -> Any:
        page = page or self.page
        key = id(page)
        if key not in self._cdp:
            self._cdp[key] = self.context.new_cdp_session(page)
        return self._cdp[key]

    # --- on the browser thread ------------------------------------------------------------------------
    def _ensure_browser(self) -> None:
        if self.browser is None or not self.browser.is_connected():
            self._close_browser()
            self.playwright, self.browser = launch(
                self.options.executable_path, headless=self.options.headless
            )

    def _reset(self, task: Task, driver: WebTaskDriver | None = None) -> Observation:
        driver = driver or self.driver
        self._ensure_browser()
        self._close_context()
        opts = self.options
        self.context = self.browser.new_context(
            viewport={"width": opts.viewport_width, "height": opts.viewport_height},
            **driver.context_options(task),
        )
        self.context.set_default_timeout(opts.timeout_ms)
        self.context.set_default_navigation_timeout(opts.navigation_timeout_ms)
        guard.install(self.context)
        self.context.on("page", self._watch)
        self.page = self.context.new_page()
        self.task, self.answer, self.stopped, self.steps = task, None, False, 0
        self.objective = task.instruction  # a driver may replace it (MiniWoB++ reads it from the page)
        self.details = {}
        driver.start(self, task)
        return self._observe(error=None, done=False, reward=None, previous="None")

    def _step(self, action: Action) -> Observation:
        if self.context is None or self.task is None:
            return Observation(text="", error="no task: reset first")
        self.steps += 1
        if action.name == "stop":
            self.answer, self.stopped = str(action.args.get("answer", "")), True
            return self._observe(error=None, done=True, reward=None, previous=grammar.format_action(action))
        target: AXNode | None = None
        error = None
        pages_before, navigations_before = len(self.context.pages), self._navigations[0]
        try:
            target = self._perform(action)
        except ActionFailed as exc:
            error = exc.message
        except Exception as exc:  # Playwright errors and timeouts: the agent sees them, the run goes on
            error = f"{action.name} failed: {first_line(exc)}"
        refused = self._after_action(pages_before, navigations_before, may_navigate(action))
        error = error or refused
        done, reward = self.driver.poll(self)
        extra = {"target": {"role": target.role, "name": target.name}} if target is not None else {}
        return self._observe(
            error=error, done=done, reward=reward, previous=grammar.format_action(action), extra=extra
        )

    def _score(self, trajectory: Trajectory) -> float:
        if self.task is None:
            return 0.0
        try:
            reward, details = self.driver.score(self.task, trajectory, self)
        except Exception as exc:  # an evaluator that breaks scores 0 and says why
            log.warning("scoring %s failed", self.task.id, exc_info=True)
            reward, details = 0.0, {"error": f"{type(exc).__name__}: {exc}"}
        self.details = {**self.details, **details, "answer": self.answer}
        return float(reward)

    def _watch(self, page: Any) -> None:
        """Count main-frame navigations, so a step can wait for one its action set off."""
        nav = self._navigations

        def started(request: Any) -> None:
            # a redirect (a form's POST answered 303 → GET) continues the navigation it belongs to
            if (
                request.is_navigation_request()
                and request.frame == page.main_frame
                and request.redirected_from is None
            ):
                nav[0] += 1

        def finished(frame_or_request: Any) -> None:
            frame = getattr(frame_or_request, "frame", frame_or_request)
            if frame == page.main_frame and nav[1] < nav[0]:
                nav[1] += 1

        page.on("request", started)
        page.on("framenavigated", finished)
        page.on("requestfailed", lambda r: r.is_navigation_request() and finished(r))

    def _after_action(self, pages_before: int, navigations_before: int, may_navigate: bool) -> str | None:
        """Follow new tabs, wait for the page to load; a page that reached a blocked URL is left (why)."""
        if may_navigate:
            self._await_navigation(navigations_before)
        pages = self.context.pages
        if len(pages) > pages_before:
            self.switch_to(pages[-1])  # a link opened a new tab: follow it, as a person would
        elif self.page not in pages:
            self.switch_to(pages[-1] if pages else self.context.new_page())
        try:
            self.page.wait_for_load_state("domcontentloaded", timeout=self.options.navigation_timeout_ms)
        except Exception:
            log.debug("page did not finish loading", exc_info=True)
        if self.options.settle_ms:
            self.page.wait_for_timeout(self.options.settle_ms)
        refused = guard.leave_blocked_pages(list(self.context.pages))
        if refused is not None:
            if self.page.is_closed():
                rest = self.context.pages
                self.switch_to(rest[-1] if rest else self.context.new_page())
            return f"that page cannot be opened: {refused}"
        return None

    def _await_navigation(self, before: int) -> None:
        """A click or Enter may start a navigation a moment later: give it `navigation_grace_ms` to
        start, then wait for it to commit (the page's load state is checked after)."""
        nav, page = self._navigations, self.page
        grace = time.monotonic() + self.options.navigation_grace_ms / 1000
        while nav[0] == before and time.monotonic() < grace and not page.is_closed():
            page.wait_for_timeout(10)
        deadline = time.monotonic() + self.options.navigation_timeout_ms / 1000
        while nav[1] < nav[0] and time.monotonic() < deadline and not page.is_closed():
            page.wait_for_timeout(10)

    # --- actions --------------------------------------------------------------------------------------
    def _perform(self, action: Action) -> AXNode | None:
        name, args = action.name, action.args
        if name in grammar.ID_VERBS:
            node = self._node(str(args.get("id", "")))
            if name == "click":
                self._click(node)
            elif name == "hover":
                self.page.mouse.move(*self._point(node))
            else:
                self._click(node)
                self._type(str(args.get("text", "")), bool(args.get("enter", True)))
            return node
        if name == "press":
            self.page.keyboard.press(str(args["key"]))
        elif name == "scroll":
            sign = "-" if args.get("direction") == "up" else ""
            self.page.evaluate(f"window.scrollBy(0, {sign}window.innerHeight)")
        elif name == "goto":
            url = str(args["url"])
            refused = guard.blocked(url)
            if refused is not None:
                raise ActionFailed(f"goto {url} refused: {refused}")
            self.page.goto(url, wait_until="load")
        elif name == "go_back":
            self.page.go_back(wait_until="load")
        elif name == "go_forward":
            self.page.go_forward(wait_until="load")
        else:
            self._tab_action(name, args)
        return None

    def _tab_action(self, name: str, args: dict[str, Any]) -> None:
        pages = self.context.pages
        if name == "new_tab":
            self.switch_to(self.context.new_page())
        elif name == "tab_focus":
            index = int(args.get("index", 0))
            if not 0 <= index < len(pages):
                raise ActionFailed(f"there is no tab {index}; tabs are 0 to {len(pages) - 1}")
            self.switch_to(pages[index])
        elif name == "close_tab":
            self.page.close()
            rest = self.context.pages
            self.switch_to(rest[-1] if rest else self.context.new_page())
        else:
            raise ActionFailed(f"unknown action {name!r}; the actions are: {grammar.GRAMMAR}")

    def _node(self, node_id: str) -> AXNode:
        node = self.tree.nodes.get(node_id)
        if node is None:
            raise ActionFailed(
                f"there is no element [{node_id}] on the page; use an id from the latest observation"
            )
        if node.backend_id is None:
            raise ActionFailed(f"element [{node_id}] ({node.role}) cannot be acted on")
        return node

    def _point(self, node: AXNode) -> tuple[float, float]:
        cdp = self.cdp()
        try:
            cdp.send("DOM.scrollIntoViewIfNeeded", {"backendNodeId": node.backend_id})
            quads = cdp.send("DOM.getContentQuads", {"backendNodeId": node.backend_id})["quads"]
        except Exception as exc:
            raise ActionFailed(f"element [{node.id}] is no longer on the page ({first_line(exc)})") from None
        if not quads:
            raise ActionFailed(f"element [{node.id}] ({node.role} {node.name!r}) is not visible")
        quad = quads[0]
        return sum(quad[0::2]) / 4, sum(quad[1::2]) / 4

    def _click(self, node: AXNode) -> None:
        if node.role == "option" and self._select_option(node):
            return  # a native <select> has no clickable popup in a headless page
        self.page.mouse.click(*self._point(node))

    def _select_option(self, node: AXNode) -> bool:
        cdp = self.cdp()
        obj = cdp.send("DOM.resolveNode", {"backendNodeId": node.backend_id})["object"]
        result = cdp.send(
            "Runtime.callFunctionOn",
            {"objectId": obj["objectId"], "functionDeclaration": SELECT_OPTION, "returnByValue": True},
        )
        return bool(result.get("result", {}).get("value"))

    def _type(self, text: str, enter: bool) -> None:
        self.page.keyboard.type(text)
        if enter:
            self.page.keyboard.press("Enter")

    def _act_by_role(
        self, action: str, role: str, name: str, text: str | None, enter: bool, nth: int = 0
    ) -> Observation:
        if self.context is None:
            return Observation(text="", error="no task: reset first")
        error = None
        pages_before, navigations_before = len(self.context.pages), self._navigations[0]
        try:
            locator = locate(self.page, role, name)
            count = locator.count()
            if count <= nth:
                raise ActionFailed(
                    f"no {role} named {name!r} on the page" + (f" (#{nth + 1})" if nth else "")
                )
            element = locator.nth(nth)
            if action == "click":
                element.click()
            elif action == "hover":
                element.hover()
            elif action == "type":
                element.click()
                self._type(text or "", enter)
            else:
                raise ActionFailed(f"act_by_role does click, hover or type, not {action!r}")
        except ActionFailed as exc:
            error = exc.message
        except Exception as exc:
            error = f"{action} failed: {first_line(exc)}"
        refused = self._after_action(
            pages_before, navigations_before, action == "click" or (action == "type" and enter)
        )
        error = error or refused
        done, reward = self.driver.poll(self)
        previous = f"{action} {role} {name!r}" + (f" [{text}]" if text is not None else "")
        return self._observe(
            error=error,
            done=done,
            reward=reward,
            previous=previous,
            extra={"target": {"role": role, "name": name}},
        )

    # --- observing ------------------------------------------------------------------------------------
    def _observe(
        self,
        *,
        error: str | None,
        done: bool,
        reward: float | None,
        previous: str,
        extra: dict[str, Any] | None = None,
    ) -> Observation:
        titles = [page_title(p) for p in self.context.pages]
        current = self.context.pages.index(self.page) if self.page in self.context.pages else 0
        header = " | ".join(
            f"Tab {i} (current): {t}" if i == current else f"Tab {i}: {t}" for i, t in enumerate(titles)
        )
        try:
            self.tree = self._accessibility_tree()
            body = self.tree.text
        except Exception as exc:  # a page mid-navigation has no tree for a moment
            body = ""
            error = error or f"could not read the page: {first_line(exc)}"
        meta = {
            "tabs": titles,
            "tab": current,
            "objective": self.objective,
            "previous_action": previous,
            "truncated": self.tree.truncated,
            **(extra or {}),
        }
        if self.answer is not None:
            meta["answer"] = self.answer
        return Observation(
            text=f"{header}\n\n{body}",
            url=self.page.url,
            error=error,
            done=done,
            reward=reward,
            screenshot_path=self._screenshot(),
            meta=meta,
        )

    def _accessibility_tree(self) -> AXTree:
        cdp = self.cdp()
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
        visible = None
        if self.options.viewport_only:
            snapshot = cdp.send("DOMSnapshot.captureSnapshot", {"computedStyles": []})
            size = self.page.viewport_size or {"width": 1280, "height": 720}
            visible = visible_backend_ids(snapshot, size["width"], size["height"])
        return build(nodes, max_tokens=self.options.max_obs_tokens, visible=visible)

    def _screenshot(self) -> str | None:
        if not self.options.screenshots or self.screenshot_root is None or self.task is None:
            return None
        run_id = str(self.task.meta.get("run_id") or "adhoc")
        episode = safe_name(str(self.task.meta.get("episode_id") or self.task.id))
        path = self.screenshot_root / run_id / "screenshots" / episode / f"{self.steps:03d}.png"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(path), timeout=self.options.timeout_ms)
        except Exception:
            log.debug("screenshot failed", exc_info=True)
            return None
        return str(path)

    # --- teardown -------------------------------------------------------------------------------------
    def _close_context(self) -> None:
        self._cdp.clear()
        if self.context is not None:
            try:
                self.context.close()
            except Exception:
                log.debug("closing a context failed", exc_info=True)
            self.context = self.page = None

    def _close_browser(self) -> None:
        self._close_context()
        for thing in (self.browser, self.playwright):
            if thing is None:
                continue
            try:
                thing.close() if thing is self.browser else thing.stop()
            except Exception:
                log.debug("closing the browser failed", exc_info=True)
        self.browser = self.playwright = None


def locate(page: Any, role: str, name: str) -> Any:
    """A Playwright locator for an element by role and accessible name, as the tree shows them."""
    if role in ("StaticText", "LabelText", "text"):
        return page.get_by_text(name, exact=True)
    return page.get_by_role(role, name=name, exact=True)


def page_title(page: Any) -> str:
    try:
        return page.title()
    except Exception:
        return ""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def may_navigate(action: Action) -> bool:
    """Actions after which a page may navigate on its own a moment later (goto and history wait anyway)."""
    if action.name == "click":
        return True
    if action.name == "type":
        return bool(action.args.get("enter", True))
    return action.name == "press" and "Enter" in str(action.args.get("key", ""))
