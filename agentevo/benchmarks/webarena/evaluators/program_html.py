"""program_html: content selected on live pages against `required_contents`.

For each target in order: resolve its URL ("last" = the page the agent ended on; a URL; or a `func:`
helper, given `__last_url__`), open a URL other than "last" in a new tab of the agent's browser context
(as libwebarena 0.0.5 does, so the agent's final page stays as it was) and wait for it to load; select
content — an empty locator takes the whole HTML, `document.…` / `[...document.…` is run as JavaScript in the
page after the target's `prep_actions` (their errors ignored; a locator error selects ""), `func:` runs a
helper with `__page__`, and under vab-lite / browsergym-lite `lambda:` runs a JS function, a falsy result
selecting None. A None selection scores 0 and ends the check (vab-lite, browsergym-lite). webarena
HTML-unescapes the selection. Then `exact_match` (normalised equality), `must_include` (every item, any of
its ` |OR| ` alternatives a substring), `fuzzy_match` (judged, items joined; not in webarena, where it is an
error), and under vab-lite `must_exclude` and `required_values`. The score is the product over targets.
"""

from __future__ import annotations

import html
from typing import Any

from agentevo.benchmarks.webarena.evaluators import Scoring, scoring_for
from agentevo.benchmarks.webarena.evaluators import helpers as funcs
from agentevo.benchmarks.webarena.evaluators.string_match import (
    OR,
    exact_match,
    must_include,
    satisfies,
    to_int,
    vab_tokenises,
)
from agentevo.records import Task, Trajectory

LOAD_TIMEOUT_MS = 30_000


class UnsupportedRule(ValueError):
    pass


def score(task: Task, trajectory: Trajectory, env: Any) -> tuple[float, dict[str, Any]]:
    return check(scoring_for(task, trajectory, env))


def check(s: Scoring) -> tuple[float, dict[str, Any]]:
    score, results = 1.0, []
    for target in s.config["eval"]["program_html"]:
        part, info = check_target(s, target)
        score *= part
        results.append({"reward": part, **info})
        if info.get("selected") is None and s.flavour != "webarena":
            score = 0.0
            break
    return score, {"targets": results}


def check_target(s: Scoring, target: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    url = resolve_url(s, str(target["url"]))
    page = s.page if url == "last" else open_tab(s, url)
    try:
        selected = select(s, page, target)
    finally:
        if page is not s.page:
            page.close()
    info: dict[str, Any] = {"url": url, "locator": target["locator"]}
    if selected is None:
        return 0.0, {**info, "selected": None}
    if s.flavour == "webarena":
        selected = html.unescape(selected)
    part, note = compare(s, selected, target["required_contents"])
    return part, {**info, "selected": selected[:300], **note}


def resolve_url(s: Scoring, url: str) -> str:
    if not url.startswith("func:"):
        return url
    last = str(s.page.url) if s.page is not None else ""
    return str(funcs.call(url.removeprefix("func:"), page=s.page, last_url=last, site_urls=s.site_urls))


def open_tab(s: Scoring, url: str) -> Any:
    page = s.context.new_page()
    page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    return page


def select(s: Scoring, page: Any, target: dict[str, Any]) -> str | None:
    locator = str(target["locator"])
    if not locator.strip():
        return page.content()
    if locator.startswith(("document.", "[...document.")):
        try:
            for prep in target.get("prep_actions", []):
                page.evaluate(f"() => {prep}")
        except Exception:  # the original stops preparing at a failing step and goes on
            pass
        try:
            return python_str(page.evaluate(f"() => {locator}")) or ""
        except Exception:
            return ""
    if locator.startswith("lambda:") and s.flavour != "webarena":
        try:
            value = page.evaluate(locator.removeprefix("lambda:"))
        except Exception:
            return None
        return python_str(value) if value else None
    if locator.startswith("func:"):
        value = funcs.call(
            locator.removeprefix("func:"), page=page, last_url=str(page.url), site_urls=s.site_urls
        )
        return None if value is None else str(value)
    raise UnsupportedRule(f"unknown locator {locator[:40]!r} for flavour {s.flavour}")


def python_str(value: Any) -> str:
    """`str()` of what Playwright returns, as the Python harnesses compare it (lists print as lists)."""
    return str(value)


def compare(s: Scoring, selected: str, contents: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    vab = s.flavour == "vab-lite"
    if "exact_match" in contents:
        return exact_match(contents["exact_match"], selected, vab), {"rule": "exact_match"}
    if "must_include" in contents:
        missing = [
            item
            for item in contents["must_include"]
            if not any(
                must_include(alt, selected, tokenize=vab and vab_tokenises(alt), vab=vab)
                for alt in item.split(OR)
            )
        ]
        return (0.0 if missing else 1.0), {"rule": "must_include", "missing": missing}
    if "must_exclude" in contents and vab:
        present = [
            i
            for i in contents["must_exclude"]
            if must_include(i, selected, tokenize=vab_tokenises(i), vab=True)
        ]
        return (0.0 if present else 1.0), {"rule": "must_exclude", "present": present}
    if "required_values" in contents and vab:
        number = to_int(selected)
        if number is None:
            return 0.0, {"rule": "required_values", "error": "the selection is not an integer"}
        failed = [
            v for v in contents["required_values"] if not any(satisfies(number, a) for a in v.split(OR))
        ]
        return (0.0 if failed else 1.0), {"rule": "required_values", "failed": failed}
    if "fuzzy_match" in contents and s.flavour != "webarena":
        part, verdicts = s.judge.fuzzy(selected, list(contents["fuzzy_match"]), s.intent, joined=True)
        return part, {"rule": "fuzzy_match", "judge": s.judge.name, "verdicts": verdicts}
    raise UnsupportedRule(f"required_contents {sorted(contents)} are not rules of flavour {s.flavour}")
