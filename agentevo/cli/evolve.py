"""`agentevo evolve`: the learning curve, with ablations, a gate, and a report."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime
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
    Sandbox,
    Seed,
    Suite,
    Workspace,
    on_off,
)
from agentevo.console import err, out, percent, print_json
from agentevo.errors import ConfigError
from agentevo.paths import workspace_dir

if TYPE_CHECKING:
    from agentevo.config import RunConfig


def evolve_command(
    suite: Suite = None,
    model: Model = None,
    api_base: ApiBase = None,
    engine: Engine = None,
    chat_template: ChatTemplate = None,
    constrain: Constrain = None,
    rounds: Annotated[int, typer.Option(help="Evaluation rounds (each after --eval-every episodes).")] = 3,
    eval_every: Annotated[int, typer.Option(help="Training episodes between evaluations.")] = 10,
    train_split: Annotated[str, typer.Option(help="Split to practise on.")] = "train",
    validation_split: Annotated[
        str, typer.Option(help="Split every decision reads (the gate, the plateau stop).")
    ] = "validation",
    test_split: Annotated[
        str, typer.Option(help="Split reported in the curve and the table; no decision reads it.")
    ] = "test",
    ablate: Annotated[
        str,
        typer.Option(
            help="Conditions: none,memory,tools,memory+tools,lora,memory+tools+lora (lora: each round's "
            "successes train a LoRA adapter of the embedded model)."
        ),
    ] = "none,memory+tools",
    seeds: Annotated[
        int, typer.Option(help="Independent training runs of each learning condition, each from scratch.")
    ] = 1,
    label: Annotated[str, typer.Option(help="reward (the benchmark's) or judge (label-free).")] = "reward",
    judge: Annotated[
        str | None, typer.Option(help="Judge model for --label judge (default: --model).")
    ] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="Stop after this many tokens.")] = None,
    budget_minutes: Annotated[float | None, typer.Option(help="Stop after this many minutes.")] = None,
    curriculum: Annotated[str, typer.Option(help="bandit (learning progress) or sequential.")] = "bandit",
    gate: Annotated[
        bool, typer.Option("--gate/--no-gate", help="Roll back changes that hurt validation results.")
    ] = True,
    tolerance: Annotated[float, typer.Option(help="Validation drop (fraction) the gate tolerates.")] = 0.0,
    patience: Annotated[
        int | None, typer.Option(help="Stop a condition after N evals without a new best.")
    ] = None,
    train_limit: Annotated[int | None, typer.Option(help="Use only the first N training tasks.")] = None,
    eval_limit: Annotated[
        int | None, typer.Option(help="Use only the first N validation and N test tasks.")
    ] = None,
    train_temperature: Annotated[
        float, typer.Option(help="Sampling temperature of training episodes (evaluations stay greedy).")
    ] = 0.7,
    explore: Annotated[
        str,
        typer.Option(
            help="Search in training episodes: none, beam:K (K best branches per step) or tree:BUDGET "
            "(best-first, at most BUDGET environment steps per task). Evaluations never search."
        ),
    ] = "none",
    relabel: Annotated[
        str,
        typer.Option(
            help="Hindsight relabelling of failed practice: none, or siblings:K (replay a failed episode's "
            "actions on up to K train instances of its template; keep the first the suite scores 1)."
        ),
    ] = "none",
    max_steps: MaxSteps = None,
    max_tokens: MaxTokens = None,
    concurrency: Concurrency = None,
    seed: Seed = None,
    sandbox: Sandbox = None,
    config: Config = None,
    resume: Annotated[str | None, typer.Option(help="Continue a stopped evolution run by id.")] = None,
    workspace: Workspace = None,
    json_mode: Json = False,
) -> None:
    """Learn on the training split, gate on the validation split, report the test split's learning curve."""
    from agentevo.config import run_config
    from agentevo.evolve.conditions import parse_conditions
    from agentevo.evolve.distil import check_trainable
    from agentevo.evolve.explore import parse_explore
    from agentevo.evolve.loop import RUN_SEED_STRIDE
    from agentevo.evolve.relabel import parse_relabel
    from agentevo.evolve.state import EvolveOptions
    from agentevo.runs.build import ensure_writable

    ws = workspace_dir(workspace)
    ensure_writable(ws)
    if resume:
        return resume_evolution(resume, ws, json_mode, budget_tokens, budget_minutes)
    if label not in ("reward", "judge"):
        raise ConfigError("--label must be reward or judge")
    if curriculum not in ("bandit", "sequential"):
        raise ConfigError("--curriculum must be bandit or sequential")
    spec = parse_explore(explore)
    hindsight = parse_relabel(relabel, label)
    if rounds < 1 or eval_every < 1 or seeds < 1:
        raise ConfigError("--rounds, --eval-every and --seeds must be at least 1")
    if rounds * eval_every >= RUN_SEED_STRIDE:
        raise ConfigError(f"--rounds × --eval-every must stay below {RUN_SEED_STRIDE:,} training episodes")
    if len({train_split, validation_split, test_split}) < 3:
        raise ConfigError("--train-split, --validation-split and --test-split must be three different splits")
    cfg = run_config(
        config,
        suite=suite,
        model=model,
        api_base=api_base,
        engine=engine,
        chat_template=chat_template,
        constrain=on_off("--constrain", constrain),
        max_steps=max_steps,
        max_tokens=max_tokens,
        concurrency=concurrency,
        seed=seed,
        sandbox=sandbox,
    )
    conditions = parse_conditions(ablate)
    check_trainable(conditions, cfg.model.name)
    options = EvolveOptions(
        rounds=rounds,
        eval_every=eval_every,
        train_split=train_split,
        validation_split=validation_split,
        test_split=test_split,
        ablate=conditions,
        seeds=seeds,
        label=label,
        judge=judge,
        budget_tokens=budget_tokens,
        budget_minutes=budget_minutes,
        curriculum=curriculum,
        gate=gate,
        tolerance=tolerance,
        patience=patience,
        train_limit=train_limit,
        eval_limit=eval_limit,
        train_temperature=train_temperature,
        explore=str(spec),
        relabel=str(hindsight),
    )
    start_evolution(cfg, options, ws, json_mode)


def start_evolution(cfg: RunConfig, options: Any, ws: Path, json_mode: bool) -> None:
    from agentevo.evolve.state import EvolveState, units

    evolve_id = f"evolve-{datetime.now():%Y%m%d-%H%M%S}-{cfg.environment.suite}"
    state = EvolveState(
        evolve_id=evolve_id,
        suite=cfg.environment.suite,
        model=cfg.model.name,
        options=options,
        config=cfg.model_dump(mode="json"),
        started_at=datetime.now().isoformat(),
        conditions=units(options.ablate, options.seeds),
    )
    drive(cfg, state, ws, json_mode, command=shlex.join(["agentevo", *sys.argv[1:]]))


def resume_evolution(
    evolve_id: str, ws: Path, json_mode: bool, tokens: int | None, minutes: float | None
) -> None:
    from agentevo.config import RunConfig
    from agentevo.evolve.state import EvolveState

    folder = ws / "runs" / evolve_id
    if not (folder / "state.json").exists():
        raise ConfigError(f"no evolution run {evolve_id!r} in {ws / 'runs'}")
    state = EvolveState.load(folder)
    if tokens is not None:
        state.options.budget_tokens = tokens
    if minutes is not None:
        state.options.budget_minutes = minutes
    state.status = "running"
    err.print(f"resuming {evolve_id}")
    drive(RunConfig.model_validate(state.config), state, ws, json_mode, command="")


def drive(cfg: RunConfig, state: Any, ws: Path, json_mode: bool, command: str) -> None:
    """Check everything that can fail, then run the loop with a progress bar and report."""
    from agentevo.benchmarks import suite_for
    from agentevo.evolve import results
    from agentevo.evolve.loop import Evolution
    from agentevo.models import load_model
    from agentevo.runs.store import TrajectoryStore

    opts = state.options
    suite = suite_for(cfg)
    suite.check(cfg)
    for split in (opts.train_split, opts.validation_split, opts.test_split):
        if not suite.tasks(split):
            raise ConfigError(f"suite {suite.name} has no tasks in split {split!r}")
    cache = ws / "runs" / "responses.db"
    model = load_model(cfg.model.model_copy(update={"cache": cfg.model.temperature == 0}), cache_path=cache)
    judge_model = load_model(opts.judge) if opts.label == "judge" and opts.judge else None
    store = TrajectoryStore.for_workspace(ws)
    evo = Evolution(
        config=cfg,
        options=opts,
        workspace=ws,
        store=store,
        model=model,
        suite=suite,
        state=state,
        judge_model=judge_model,
        on_event=lambda m: err.print(m, highlight=False),
    )
    write_manifest(evo, command)
    err.print(
        f"{state.evolve_id}: {suite.name}, {len(evo.train_tasks)} training / {len(evo.validation_tasks)} "
        f"validation (gate) / {len(evo.test_tasks)} test (reported) tasks, conditions "
        f"{', '.join(opts.ablate)} × {opts.seeds} training run{'s' if opts.seeds > 1 else ''}"
    )
    try:
        with progress_bars(evo, json_mode):
            evo.run()
        report = results.render(state, evo.folder, evo.learners)
    finally:
        evo.close()
    summary = results.summary(state, report)
    (evo.folder / "summary.json").write_text(json.dumps(summary, indent=2))
    show(summary, json_mode)


def write_manifest(evo: Any, command: str) -> None:
    from agentevo.runs.runner import package_versions

    path = evo.folder / "manifest.json"
    if path.exists():
        return
    evo.folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "evolve_id": evo.state.evolve_id,
        "model": evo.model.name,
        "suite": evo.suite.name,
        "options": vars(evo.options),
        "config": evo.config.model_dump(mode="json"),
        "config_hash": evo.config.digest(),
        "judge": evo.judge.name if evo.judge else None,
        "train_tasks": [t.id for t in evo.train_tasks],
        "validation_tasks": [t.id for t in evo.validation_tasks],
        "test_tasks": [t.id for t in evo.test_tasks],
        "packages": package_versions(),
        "command": command,
    }
    path.write_text(json.dumps(manifest, indent=2, default=str))


class progress_bars:
    """One bar per condition: its training episodes and evaluations."""

    def __init__(self, evo: Any, json_mode: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        opts = evo.options
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=json_mode and not err.is_terminal,
        )
        self.bars = {}
        for name, cond in evo.state.conditions.items():
            learns = cond.condition != "none"
            total = opts.rounds * ((opts.eval_every if learns else 0) + 2) + 2
            done = cond.episodes + len(cond.points)
            self.bars[name] = self.progress.add_task(name, total=total, completed=done)
        evo.on_progress = lambda name, n: self.progress.update(self.bars[name], advance=n)

    def __enter__(self) -> progress_bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)


def show(summary: dict[str, Any], json_mode: bool) -> None:
    if json_mode:
        print_json(summary)
        return
    table = Table(
        "condition",
        "runs",
        "test success",
        "95% CI",
        "vs none (paired)",
        "95% CI of diff",
        "validation",
        "steps/solved",
        "rolled back",
        "practice (all runs)",
        title=f"{summary['evolve_id']} ({summary['status']}): test split; the gate read validation",
    )
    for a in summary["ablations"]:
        diff = "–" if a["diff_vs_none"] is None else f"{100 * a['diff_vs_none']:+.1f} pts"
        dci = (
            "–"
            if a["diff_ci95"] is None
            else f"{100 * a['diff_ci95'][0]:+.1f} … {100 * a['diff_ci95'][1]:+.1f}"
        )
        steps = "–" if a["steps_per_solved"] is None else f"{a['steps_per_solved']:.1f}"
        table.add_row(
            a["condition"],
            str(a["runs"]),
            percent(a["success_rate"]),
            f"{percent(a['ci95'][0])}–{percent(a['ci95'][1])}",
            diff,
            dci,
            percent(a["validation"]["success_rate"]),
            steps,
            str(a["rejected_commits"]),
            f"{a.get('practice_tokens', 0):,} tok, {a.get('practice_seconds', 0):.0f} s",
        )
    out.print(table)
    if summary["report"]:
        out.print(f"learning curve: {summary['report']['png']}\nreport: {summary['report']['html']}")
