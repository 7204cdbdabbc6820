"""Score a final state (an answer and a page) against one task config, with no agent: `agentevo score`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pick(configs: list[dict[str, Any]], task_id: str | None, source: str) -> dict[str, Any]:
    from agentevo.errors import SuiteError

    if task_id is not None:
        for c in configs:
            if str(c["task_id"]) == task_id:
                return c
        raise SuiteError(f"{source}: no task {task_id}")
    if len(configs) > 1:
        raise SuiteError(f"{source} holds {len(configs)} tasks: choose one with --task-id")
    return configs[0]


def score_config(
    path: Path,
    *,
    answer: str,
    url: str | None,
    task_id: str | None = None,
    flavour: str = "webarena",
    judge: str | None = None,
    state_dir: str | None = None,
) -> dict[str, Any]:
    from agentevo.benchmarks.webarena.configs import parse, read_file, substitute, to_task
    from agentevo.benchmarks.webarena.evaluators import Scoring, check, evaluate
    from agentevo.benchmarks.webarena.evaluators.judge import judge_for
    from agentevo.benchmarks.webarena.suites import webarena_urls
    from agentevo.envs.web import PlaywrightWebEnvironment, web_options
    from agentevo.errors import ConfigError, EnvError
    from agentevo.records import Action, Observation, Step, Trajectory

    options = web_options(
        {"flavour": flavour, "judge": judge, "screenshots": False, "storage_state_dir": state_dir}
    )
    urls = webarena_urls()
    config = pick(parse(substitute(read_file(path), urls), str(path)), task_id, str(path))
    task = to_task(config, "score", urls)
    stop = Step(
        index=0, action=Action(name="stop", args={"answer": answer}), observation=Observation(text="")
    )
    trajectory = Trajectory(id="score", run_id="", task=task, steps=(stop,), outcome="failure")
    needs_page = bool({"url_match", "program_html"} & set(config["eval"]["eval_types"]))
    if needs_page and not url:
        raise ConfigError(
            f"task {task.id} checks a page ({', '.join(config['eval']['eval_types'])}): give --url"
        )
    judge_name = judge_for(options.judge).name
    if not needs_page:
        scoring = Scoring(
            config, answer, options.flavour, judge_for(options.judge), site_urls=task.meta["site_urls"]
        )
        reward, details = check(scoring)
    else:
        env = PlaywrightWebEnvironment(options=options)
        try:
            env.open(str(url))
            if env.details.get("start_errors"):
                raise EnvError(f"cannot open {url}: {env.details['start_errors'][0]}")
            reward, details = env.call(evaluate, task, trajectory, env)
        finally:
            env.close()
    return {
        "task_id": task.id,
        "reward": reward,
        "flavour": options.flavour,
        "judge": judge_name,
        "eval_types": list(config["eval"]["eval_types"]),
        "details": details,
    }
