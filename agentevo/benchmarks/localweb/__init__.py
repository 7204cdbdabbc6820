"""`local-web`: WebArena-format tasks on the local shop and forum, runnable offline.

Two suites over the same 104 tasks (26 templates × 4 instances, `environments/web/tasks/`):

    local-web             split by template instance: 1 instance of every template in train, 1 in
                          validation, 2 in test, so experience learned on a template is gated and tested
                          on unseen instances of it
    local-web-templates   split by template (about 30% of templates wholly held out for test, 20% for
                          validation), for transfer to templates never practised

`make_instances(template_id, n, seed)` draws fresh instances of a template from the seed data — never one
of the committed instances, so never a held-out validation or test task (and under `local-web-templates`
it refuses held-out templates). Every task carries its reference solution in `meta["reference"]` (never
shown to the agent); `reference.replay` carries it out.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from agentevo.benchmarks import EnvContext, Suite, register_suite
from agentevo.benchmarks.localweb import build
from agentevo.benchmarks.localweb.reference import ReplayError, check_reference
from agentevo.benchmarks.webarena.configs import parse, read_file
from agentevo.config import RunConfig
from agentevo.errors import ConfigError, SuiteError
from agentevo.protocols import Environment
from agentevo.records import Task

NAME = "local-web"
BY_TEMPLATE = "local-web-templates"


def to_task(config: dict[str, Any], reference: list[dict[str, Any]], split: str, suite: str) -> Task:
    return Task(
        id=str(config["task_id"]),
        suite=suite,
        kind="web",
        instruction=config["intent"],
        template_id=str(config["intent_template_id"]),
        split=split,
        meta={
            "config": config,
            "start_url": config["start_url"],
            "sites": list(config["sites"]),
            "reference": reference,
        },
    )


@functools.cache
def committed() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """The committed configs, references and splits, checked whole."""
    folder = build.tasks_dir()
    source = str(folder / f"{NAME}.raw.json")
    configs = parse(read_file(folder / f"{NAME}.raw.json"), source)
    try:
        references = json.loads(read_file(folder / f"{NAME}.references.json"))
        splits = json.loads(read_file(folder / f"{NAME}.splits.json"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{folder}: a local-web task file is not valid JSON ({exc.msg})") from None
    for config in configs:
        key = str(config["task_id"])
        if key not in references:
            raise SuiteError(f"{source}: task {key}: no reference solution in {NAME}.references.json")
        try:
            check_reference(references[key], f"{NAME}.references.json: task {key}")
        except ReplayError as exc:
            raise SuiteError(str(exc)) from None
    return configs, references, splits


def load(suite: str = NAME) -> list[Task]:
    configs, references, splits = committed()
    key, sides = ("task_id", splits) if suite == NAME else ("intent_template_id", splits["templates"])
    side_of = {member: side for side in ("train", "validation", "test") for member in sides[side]}
    return [to_task(c, references[str(c["task_id"])], side_of[c[key]], suite) for c in configs]


def make_instances(template_id: int | str, n: int, seed: int = 0, *, suite: str = NAME) -> list[Task]:
    """Up to n fresh instances of a template (fewer when the seed data has no more), drawn with `seed`."""
    try:
        tid = int(template_id)
    except ValueError:
        raise SuiteError(f"{suite}: template ids are numbers, not {template_id!r}") from None
    if tid not in build.TEMPLATES:
        raise SuiteError(
            f"{suite}: no template {tid}; templates: {', '.join(map(str, sorted(build.TEMPLATES)))}"
        )
    side = build.template_split(tid)
    if suite == BY_TEMPLATE and side != "train":
        raise SuiteError(f"{suite}: template {tid} is held out for {side}; no practice instances of it")
    tasks = []
    for config, reference in build.fresh(tid, n, seed):
        task = to_task(config, reference, "train", suite)
        tasks.append(task.model_copy(update={"meta": {**task.meta, "fresh": True}}))
    return tasks


def check(cfg: RunConfig) -> None:
    """Before a run: valid options, and shared external sites only with one worker. The resolved flavour and
    judge go into the options, so the run manifest records them."""
    from agentevo.benchmarks.localweb.driver import URL_VARS, external_urls
    from agentevo.benchmarks.webarena.evaluators.judge import RULE
    from agentevo.envs.sites import remote_health
    from agentevo.envs.web import web_options

    options = web_options(cfg.environment.options)
    external = external_urls()
    missing = [var for site, var in URL_VARS.items() if external and site not in external]
    if missing:
        raise ConfigError(f"local-web on sites served elsewhere needs {', '.join(missing)} too")
    if external and cfg.run.concurrency > 1:
        raise ConfigError(
            "local-web on shared sites (AGENTEVO_SHOP_URL / AGENTEVO_FORUM_URL) needs --concurrency 1; "
            "unset them to give every worker its own sites"
        )
    for url in external.values():
        remote_health(url)  # a dead site is one clear line before the run, not an error per episode
    cfg.environment.options = {
        **cfg.environment.options,
        "flavour": options.flavour,
        "judge": options.judge or RULE,
    }


def make_env(ctx: EnvContext) -> Environment:
    from agentevo.benchmarks.localweb.driver import LocalWebEnvironment, external_urls
    from agentevo.envs.sites import RemoteSites
    from agentevo.envs.web import web_options

    urls = external_urls()
    remote = RemoteSites(urls) if urls else None
    return LocalWebEnvironment(web_options(ctx.options), screenshot_root=ctx.run_dir, sites=remote)


def suite(name: str, description: str) -> Suite:
    return Suite(
        name=name,
        kind="web",
        description=description,
        load=lambda: load(name),
        make_env=make_env,
        check=check,
        prompt_set="web",
        make_instances=lambda tid, n, seed: make_instances(tid, n, seed, suite=name),
    )


LOCAL_WEB = register_suite(
    suite(NAME, "104 WebArena-format tasks on the local shop and forum (offline); split by template instance")
)
LOCAL_WEB_TEMPLATES = register_suite(
    suite(BY_TEMPLATE, "the local-web tasks split by template: about 30% of templates held out for testing")
)

__all__ = ["BY_TEMPLATE", "LOCAL_WEB", "LOCAL_WEB_TEMPLATES", "NAME", "load", "make_instances"]
