"""`agentevo run`: a model on a suite, every step stored, the summary printed."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from agentevo.cli.options import (
    ApiBase,
    ChatTemplate,
    Concurrency,
    Config,
    Constrain,
    Engine,
    Json,
    MaxSteps,
    MaxTokens,
    Model,
    RunsDb,
    Samples,
    Sandbox,
    Seed,
    Split,
    Suite,
    Temperature,
    Workspace,
    on_off,
)
from agentevo.console import err, out, percent, print_json
from agentevo.paths import workspace_dir

if TYPE_CHECKING:
    from agentevo.benchmarks import Suite as TaskSuite
    from agentevo.config import RunConfig
    from agentevo.runs.summary import RunSummary


def summary_table(s: RunSummary) -> Table:
    table = Table(title=f"run {s.run_id}", show_header=True)
    for col in ("suite", "model", "episodes", "success", "95% CI", "mean steps", "tokens", "time"):
        table.add_column(col)
    lo, hi = s.ci95
    table.add_row(
        s.suite,
        s.model,
        str(s.episodes),
        f"{percent(s.success_rate)} ({s.successes})",
        f"{percent(lo)}–{percent(hi)}",
        f"{s.mean_steps:.1f}",
        f"{s.tokens:,}",
        f"{s.seconds:.0f} s",
    )
    return table


def prepare(cfg: RunConfig, suite: TaskSuite, workspace: Path, db: str | None) -> tuple[Any, Any]:
    """Checks that can fail (model, keys, servers) come before the first write to the workspace."""
    from agentevo.models import load_model
    from agentevo.runs.store import TrajectoryStore

    suite.check(cfg)
    model = load_model(cfg.model, cache_path=workspace / "runs" / "responses.db")
    return model, TrajectoryStore.for_workspace(workspace, db)


def report(summary: RunSummary, json_mode: bool) -> None:
    if json_mode:
        print_json(summary.to_json())
    else:
        out.print(summary_table(summary))
    if summary.status == "interrupted":
        err.print(f"interrupted: resume with  agentevo run --resume {summary.run_id}")
        raise typer.Exit(130)


def run_command(
    suite: Suite = None,
    suite_file: Annotated[
        Path | None,
        typer.Option("--suite-file", help="A JSON file of your own WebArena-format task configs."),
    ] = None,
    flavour: Annotated[
        str | None, typer.Option(help="Web evaluator rules: webarena, vab-lite or browsergym-lite.")
    ] = None,
    judge: Annotated[
        str | None, typer.Option(help="Model string of the fuzzy_match judge (web suites).")
    ] = None,
    split: Split = None,
    limit: Annotated[int | None, typer.Option(help="Run only the first N tasks.")] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Run only this task id (repeatable).")
    ] = None,
    model: Model = None,
    api_base: ApiBase = None,
    engine: Engine = None,
    chat_template: ChatTemplate = None,
    constrain: Constrain = None,
    temperature: Temperature = None,
    max_tokens: MaxTokens = None,
    max_steps: MaxSteps = None,
    concurrency: Concurrency = None,
    seed: Seed = None,
    samples: Samples = None,
    sandbox: Sandbox = None,
    tools: Annotated[
        str | None,
        typer.Option("--tools", help="on: offer archived tools and learn new ones (archive.enabled)."),
    ] = None,
    cache: Annotated[
        bool | None, typer.Option("--cache/--no-cache", help="Reuse cached model replies.")
    ] = None,
    config: Config = None,
    resume: Annotated[str | None, typer.Option(help="Resume an interrupted run by id.")] = None,
    memory: Annotated[
        str | None, typer.Option(help="on: retrieve from and learn into the workspace memory; off: neither.")
    ] = None,
    workspace: Workspace = None,
    db: RunsDb = None,
    json_mode: Json = False,
) -> None:
    """Run a model on a suite; store every step; print the summary."""
    from agentevo.benchmarks import suite_for
    from agentevo.config import run_config
    from agentevo.runs.build import build_runner, ensure_writable, run_learners, select_tasks

    ws = workspace_dir(workspace)
    ensure_writable(ws)
    if resume:
        return resume_command(resume, ws, db, json_mode)
    cfg = run_config(
        config,
        suite=suite,
        suite_file=str(suite_file) if suite_file else None,
        split=split,
        limit=limit,
        task_ids=task or None,
        model=model,
        api_base=api_base,
        engine=engine,
        chat_template=chat_template,
        constrain=on_off("--constrain", constrain),
        temperature=temperature,
        max_tokens=max_tokens,
        cache=cache,
        max_steps=max_steps,
        concurrency=concurrency,
        seed=seed,
        samples=samples,
        sandbox=sandbox,
        tools=on_off("--tools", tools),
        memory=on_off("--memory", memory),
    )
    extra = {"flavour": flavour, "judge": judge}
    cfg.environment.options = {**cfg.environment.options, **{k: v for k, v in extra.items() if v is not None}}
    suite_obj = suite_for(cfg)
    tasks = select_tasks(suite_obj, cfg)
    model_obj, store = prepare(cfg, suite_obj, ws, db)
    with run_learners(cfg, ws, model_obj) as (learners, pins):
        runner = build_runner(
            cfg,
            suite_obj,
            ws,
            model=model_obj,
            store=store,
            learners=learners,
            show_progress=progress(json_mode),
        )
        manifest = runner.start(tasks, command=shlex.join(["agentevo", *sys.argv[1:]]), extra=pins or None)
        err.print(
            f"run {manifest.run_id}: {len(tasks)} tasks of {suite_obj.name}/{cfg.environment.split}, "
            f"model {runner.model.name}"
        )
        report(runner.execute(manifest, tasks), json_mode)


def progress(json_mode: bool) -> bool:
    return sys.stderr.isatty() or not json_mode


def resume_command(run_id: str, workspace: Path, db: str | None, json_mode: bool) -> None:
    from agentevo.benchmarks import suite_for
    from agentevo.config import RunConfig
    from agentevo.runs.build import build_runner, run_learners
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace, db)
    manifest = store.manifest(run_id)
    cfg = RunConfig.model_validate(manifest.config)
    suite = suite_for(cfg)
    model, store = prepare(cfg, suite, workspace, db)
    tasks = [t for t in suite.tasks("all") if t.id in set(manifest.task_ids)]
    err.print(f"resuming {run_id}")
    with run_learners(cfg, workspace, model) as (learners, _pins):
        shown = progress(json_mode)
        runner = build_runner(
            cfg, suite, workspace, model=model, store=store, learners=learners, show_progress=shown
        )
        report(runner.execute(manifest, tasks), json_mode)
