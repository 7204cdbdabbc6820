"""`agentevo run` and `agentevo runs list|show`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from agentevo.benchmarks import Suite, suite_for
from agentevo.config import RunConfig, load_run_config, workspace_dir
from agentevo.console import err, out, percent, print_json
from agentevo.errors import ConfigError
from agentevo.runs.build import build_runner, ensure_writable, run_learners, select_tasks

if TYPE_CHECKING:
    from agentevo.runs.summary import RunSummary

runs_app = typer.Typer(help="List and inspect stored runs.", no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path | None, typer.Option("--workspace", "-w", help="Workspace folder (AGENTEVO_HOME).")
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="AGENTEVO_DB_URL", help="Trajectory store URL (default: SQLite in the workspace)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


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


def prepare(cfg: RunConfig, suite: Suite, workspace: Path, db: str | None) -> tuple[Any, Any]:
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
    suite: Annotated[str | None, typer.Option("--suite", "-s", help="Suite name (agentevo suites).")] = None,
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
    split: Annotated[str | None, typer.Option(help="Split: train, test or all.")] = None,
    limit: Annotated[int | None, typer.Option(help="Run only the first N tasks.")] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Run only this task id (repeatable).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model string (see README).")] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    temperature: Annotated[float | None, typer.Option(help="0 = greedy.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens in one model reply.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Steps per episode.")] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-j", help="Episodes in parallel.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling and task instances.")] = None,
    samples: Annotated[int | None, typer.Option(help="Episodes per task (seeds seed, seed+1, …).")] = None,
    sandbox: Annotated[str | None, typer.Option(help="auto, docker, bwrap or local.")] = None,
    tools: Annotated[
        str | None,
        typer.Option("--tools", help="on: offer archived tools and learn new ones (archive.enabled)."),
    ] = None,
    cache: Annotated[
        bool | None, typer.Option("--cache/--no-cache", help="Reuse cached model replies.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML run file.")] = None,
    resume: Annotated[str | None, typer.Option(help="Resume an interrupted run by id.")] = None,
    memory: Annotated[
        str | None, typer.Option(help="on: retrieve from and learn into the workspace memory; off: neither.")
    ] = None,
    workspace: WorkspaceOpt = None,
    db: DbOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Run a model on a suite; store every step; print the summary."""
    ws = workspace_dir(workspace)
    ensure_writable(ws)
    if resume:
        return resume_command(resume, ws, db, json_mode)
    overrides: dict[str, Any] = {
        "environment.suite": suite,
        "environment.suite_file": str(suite_file) if suite_file else None,
        "environment.split": split,
        "environment.limit": limit,
        "environment.task_ids": task or None,
        "model.name": model,
        "model.api_base": api_base,
        "model.temperature": temperature,
        "model.max_tokens": max_tokens,
        "model.cache": cache,
        "limits.max_steps": max_steps,
        "run.concurrency": concurrency,
        "run.seed": seed,
        "run.samples": samples,
        "sandbox.backend": sandbox,
        "archive.enabled": on_off("--tools", tools),
        "memory.enabled": on_off("--memory", memory),
    }
    cfg = load_run_config(config, overrides)
    if cfg.model.seed is None:
        cfg.model.seed = cfg.run.seed
    extra = {"flavour": flavour, "judge": judge}
    cfg.environment.options = {**cfg.environment.options, **{k: v for k, v in extra.items() if v is not None}}
    suite_obj = suite_for(cfg)
    tasks = select_tasks(suite_obj, cfg)
    model, store = prepare(cfg, suite_obj, ws, db)
    with run_learners(cfg, ws, model) as (learners, pins):
        runner = build_runner(
            cfg, suite_obj, ws, model=model, store=store, learners=learners, show_progress=progress(json_mode)
        )
        manifest = runner.start(tasks, command=shlex.join(["agentevo", *sys.argv[1:]]), extra=pins or None)
        err.print(
            f"run {manifest.run_id}: {len(tasks)} tasks of {suite_obj.name}/{cfg.environment.split}, "
            f"model {runner.model.name}"
        )
        report(runner.execute(manifest, tasks), json_mode)


def on_off(flag: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in ("on", "off"):
        raise ConfigError(f"{flag} takes on or off, not {value!r}")
    return value == "on"


def progress(json_mode: bool) -> bool:
    return sys.stderr.isatty() or not json_mode


def resume_command(run_id: str, workspace: Path, db: str | None, json_mode: bool) -> None:
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


@runs_app.command("list")
def runs_list(
    workspace: WorkspaceOpt = None,
    db: DbOpt = None,
    json_mode: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="Most recent N runs.")] = 50,
) -> None:
    """List runs, newest first."""
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace_dir(workspace), db)
    rows = store.list_runs(limit)
    data = [
        {
            "run_id": r.id,
            "created_at": r.created_at.isoformat(),
            "status": r.status,
            "kind": r.kind,
            "suite": r.suite,
            "split": r.split,
            "model": r.model,
            "episodes": r.summary.get("episodes"),
            "success_rate": r.summary.get("success_rate"),
        }
        for r in rows
    ]
    if json_mode:
        return print_json(data)
    table = Table("run", "created", "status", "suite", "model", "episodes", "success")
    for d in data:
        rate = d["success_rate"]
        table.add_row(
            d["run_id"],
            d["created_at"][:19],
            d["status"],
            f"{d['suite']}/{d['split']}",
            d["model"],
            str(d["episodes"] or 0),
            percent(rate) if rate is not None else "-",
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: str, workspace: WorkspaceOpt = None, db: DbOpt = None, json_mode: JsonOpt = False
) -> None:
    """Show one run: manifest, summary and every step of every episode."""
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace_dir(workspace), db)
    row = store.get_run(run_id)
    if row is None:
        raise ConfigError(f"no run {run_id!r}")
    episodes = []
    for e in store.episodes(run_id):
        steps = [s.model_dump(mode="json") for s in store.steps(e.id)]
        episodes.append(
            {
                "episode_id": e.id,
                "task_id": e.task_id,
                "sample": e.sample,
                "status": e.status,
                "outcome": e.outcome,
                "reward": e.reward,
                "tokens": e.tokens,
                "seconds": e.seconds,
                "error": (e.trajectory or {}).get("error"),
                "details": (e.trajectory or {}).get("details", {}),
                "steps": steps,
            }
        )
    if json_mode:
        return print_json(
            {
                "run_id": row.id,
                "status": row.status,
                "manifest": row.manifest,
                "summary": row.summary,
                "episodes": episodes,
            }
        )
    out.print(f"[bold]{row.id}[/]  {row.status}  {row.suite}/{row.split}  {row.model}")
    table = Table("task", "outcome", "reward", "steps", "tokens", "seconds")
    for e in episodes:
        table.add_row(
            e["task_id"],
            e["outcome"] or e["status"],
            f"{e['reward']:.2f}",
            str(len(e["steps"])),
            str(e["tokens"]),
            f"{e['seconds']:.1f}",
        )
    out.print(table)
