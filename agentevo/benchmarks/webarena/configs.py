"""WebArena task configs: read the raw JSON, put site URLs in for placeholders, check every field, make Tasks.

Placeholders (`__SHOPPING__`, `__GITLAB__`, … or a suite's own, like `__SHOP__`) are replaced on the raw
text before parsing, as WebArena's generator does, so they work inside any field (`reference_url`,
`program_html[].url`, `func:` strings). A suite supplies its own placeholder → URL map; placeholders left
unreplaced are reported by `missing_placeholders` (the suite's `check` turns them into one clear error).

A malformed config is rejected before anything runs, naming the task id and the field at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentevo.benchmarks import suite_split
from agentevo.errors import SuiteError
from agentevo.records import Task

PLACEHOLDER = re.compile(r"__[A-Z][A-Z0-9_]*?__")
AND = " |AND| "
EVAL_TYPES = ("string_match", "url_match", "program_html")
ANSWER_LISTS = ("must_include", "must_exclude", "one_of", "required_values")
CONTENT_KEYS = ("exact_match", "must_include", "fuzzy_match", "must_exclude", "required_values")


def substitute(raw: str, urls: Mapping[str, str]) -> str:
    """Replace each placeholder that has a URL (trailing "/" dropped, as WebArena's env values have none)."""
    for placeholder, url in urls.items():
        if url:
            raw = raw.replace(placeholder, url.rstrip("/"))
    return raw


def placeholders_in(raw: str) -> set[str]:
    return set(PLACEHOLDER.findall(raw))


def parse(raw: str, source: str, *, strict: bool = True) -> list[dict[str, Any]]:
    """JSON text → a list of config dicts (one object or a list). `strict=False` lets through the one
    annotation slip in the shipped files (Lite task 81's `must_include` is a bare string), which the
    original evaluators reject when scoring, as ours do."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SuiteError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    configs = data if isinstance(data, list) else [data]
    if not configs:
        raise SuiteError(f"{source}: no task configs in the file")
    for i, config in enumerate(configs):
        if not isinstance(config, dict):
            raise SuiteError(f"{source}: item {i} is a {type(config).__name__}, not a task config object")
        validate(config, source, i, strict=strict)
    ids = [str(c["task_id"]) for c in configs]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise SuiteError(f"{source}: task {duplicate}: field task_id: appears more than once")
    return configs


def fail(source: str, config: dict[str, Any], index: int, field: str, problem: str) -> SuiteError:
    who = f"task {config['task_id']}" if "task_id" in config else f"item {index}"
    return SuiteError(f"{source}: {who}: field {field}: {problem}")


def validate(config: dict[str, Any], source: str, index: int = 0, *, strict: bool = True) -> None:
    """Check the fields an evaluator and the environment rely on; raise SuiteError naming the first fault."""

    def need(ok: bool, field: str, problem: str) -> None:
        if not ok:
            raise fail(source, config, index, field, problem)

    need("task_id" in config, "task_id", "missing")
    need(
        isinstance(config["task_id"], int | str) and not isinstance(config["task_id"], bool),
        "task_id",
        "must be an integer or a string",
    )
    need(is_text(config.get("intent")), "intent", "missing or not a non-empty string")
    need(isinstance(config.get("start_url"), str), "start_url", "missing or not a string")
    need(isinstance(config.get("sites", []), list), "sites", "must be a list of site names")
    need(isinstance(config.get("require_login", False), bool), "require_login", "must be true or false")
    need(
        config.get("storage_state") is None or isinstance(config["storage_state"], str),
        "storage_state",
        "must be a path or null",
    )
    tid = config.get("intent_template_id", 0)
    need(
        isinstance(tid, int | str) and not isinstance(tid, bool),
        "intent_template_id",
        "must be an integer or a string",
    )
    ev = config.get("eval")
    need(isinstance(ev, dict), "eval", "missing or not an object")
    types = ev.get("eval_types")
    need(isinstance(types, list) and bool(types), "eval.eval_types", "missing or empty")
    for t in types:
        need(t in EVAL_TYPES, "eval.eval_types", f"unknown type {t!r} (known: {', '.join(EVAL_TYPES)})")
    if "string_match" in types:
        validate_answers(ev.get("reference_answers"), need, strict)
    if "url_match" in types:
        need(
            is_text(ev.get("reference_url")),
            "eval.reference_url",
            "url_match needs a non-empty reference_url",
        )
        need(
            ev.get("url_note") is None or isinstance(ev["url_note"], str), "eval.url_note", "must be a string"
        )
    if "program_html" in types:
        targets = ev.get("program_html")
        need(
            isinstance(targets, list) and bool(targets),
            "eval.program_html",
            "program_html needs a non-empty list",
        )
        for i, target in enumerate(targets):
            validate_target(target, f"eval.program_html[{i}]", need)


def validate_answers(answers: Any, need: Callable[[bool, str, str], None], strict: bool = True) -> None:
    field = "eval.reference_answers"
    need(isinstance(answers, dict) and bool(answers), field, "string_match needs reference_answers")
    for key, value in answers.items():
        where = f"{field}.{key}"
        if key == "exact_match":
            need(isinstance(value, str), where, "must be a string")
        elif key in ANSWER_LISTS:
            need(
                is_str_list(value) or (not strict and isinstance(value, str)),
                where,
                "must be a list of strings",
            )
        elif key == "fuzzy_match":
            need(value == "N/A" or is_str_list(value), where, 'must be a list of strings or "N/A"')
        else:
            need(False, where, "unknown answer rule (exact_match, must_include, fuzzy_match, …)")


def validate_target(target: Any, field: str, need: Callable[[bool, str, str], None]) -> None:
    need(isinstance(target, dict), field, "must be an object")
    need(isinstance(target.get("url"), str), f"{field}.url", 'missing (use "last" for the final page)')
    need(isinstance(target.get("locator"), str), f"{field}.locator", 'missing (use "" for the whole page)')
    contents = target.get("required_contents")
    need(isinstance(contents, dict) and len(contents) >= 1, f"{field}.required_contents", "missing or empty")
    for key, value in contents.items():
        where = f"{field}.required_contents.{key}"
        need(key in CONTENT_KEYS, where, f"unknown rule (known: {', '.join(CONTENT_KEYS)})")
        need(
            isinstance(value, str) if key == "exact_match" else is_str_list(value),
            where,
            "must be a string" if key == "exact_match" else "must be a list of strings",
        )
    prep = target.get("prep_actions", [])
    need(is_str_list(prep), f"{field}.prep_actions", "must be a list of JavaScript strings")


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def to_task(config: dict[str, Any], suite: str, urls: Mapping[str, str]) -> Task:
    template = str(config.get("intent_template_id", config["task_id"]))
    return Task(
        id=str(config["task_id"]),
        suite=suite,
        kind="web",
        instruction=config["intent"],
        template_id=template,
        split=suite_split(template),
        meta={
            "config": config,
            "start_url": config["start_url"],
            "sites": list(config.get("sites", [])),
            "site_urls": {k: v.rstrip("/") for k, v in urls.items() if v},
        },
    )


def load_tasks(
    raw: str, source: str, suite: str, urls: Mapping[str, str], *, strict: bool = True
) -> list[Task]:
    return [to_task(c, suite, urls) for c in parse(substitute(raw, urls), source, strict=strict)]


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read ({exc})") from None


def missing_placeholders(tasks: list[Task]) -> set[str]:
    """Placeholders still in the given tasks' configs (their site URL was not set)."""
    found: set[str] = set()
    for task in tasks:
        found |= placeholders_in(json.dumps(task.meta.get("config", {})))
    return found
