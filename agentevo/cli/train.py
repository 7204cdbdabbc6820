"""`agentevo export` and `agentevo train lora|eval`. Heavy imports (torch, peft, trl) happen inside the
commands, so `agentevo --help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agentevo.cli.options import (
    Concurrency,
    Config,
    Json,
    MaxSteps,
    RunsDb,
    Samples,
    Sandbox,
    Seed,
    Split,
    Workspace,
)
from agentevo.console import err, out, percent, print_json
from agentevo.errors import ConfigError
from agentevo.paths import workspace_dir

train_app = typer.Typer(
    help="Train a LoRA adapter on exported experience, and evaluate it.", no_args_is_help=True
)


def choice(value: str, allowed: tuple[str, ...], flag: str) -> Any:
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r}: use one of {', '.join(allowed)}")
    return value


def export_command(
    format: Annotated[str, typer.Option("--format", "-f", help="openai, trl, sharegpt or dpo.")],
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="Output FILE.jsonl (parts: FILE.train/.test.jsonl).")
    ],
    runs: Annotated[
        list[str] | None, typer.Option("--runs", help="Only these run ids (repeatable or comma-separated).")
    ] = None,
    suite: Annotated[
        str | None, typer.Option("--suite", "-s", help="Only trajectories of this suite.")
    ] = None,
    filter_: Annotated[
        str, typer.Option("--filter", help="success, failure or all (SFT formats).")
    ] = "success",
    split_by: Annotated[
        str, typer.Option(help="Group the train/test split by template, task, or none.")
    ] = "template",
    test_fraction: Annotated[float, typer.Option(help="Share of templates held out for test.")] = 0.2,
    with_memory: Annotated[
        str, typer.Option(help="inline: messages as the model saw them; strip: without recalled experience.")
    ] = "inline",
    pair_by: Annotated[
        str, typer.Option(help="DPO: pair a success and a failure of one task or template.")
    ] = "task",
    workspace: Workspace = None,
    db: RunsDb = None,
    json_mode: Json = False,
) -> None:
    """Export stored trajectories as fine-tuning data (OpenAI, TRL, ShareGPT, DPO pairs) with a data card."""
    from agentevo.runs.store import TrajectoryStore
    from agentevo.train.export import ExportSettings, export_from_store

    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError("--test-fraction must be at least 0 and below 1")
    settings = ExportSettings(
        format=choice(format, ("openai", "trl", "sharegpt", "dpo"), "--format"),
        filter=choice(filter_, ("success", "all", "failure"), "--filter"),
        split_by=choice(split_by, ("template", "task", "none"), "--split-by"),
        test_fraction=test_fraction,
        with_memory=choice(with_memory, ("inline", "strip"), "--with-memory"),
        pair_by=choice(pair_by, ("task", "template"), "--pair-by"),
    )
    run_ids = [r.strip() for item in runs or [] for r in item.split(",") if r.strip()]
    store = TrajectoryStore.for_workspace(workspace_dir(workspace), db)
    result = export_from_store(store, out_file, settings, runs=run_ids, suite=suite)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if json_mode:
        return print_json({"files": {k: str(v) for k, v in result.files.items()}, "card": result.card})
    c = result.card["counts"]
    table = Table("file", "examples", "templates")
    for side in ("train", "test"):
        if side in result.files:
            table.add_row(
                str(result.files[side]), str(c[side]), str(len(result.card["split"][f"{side}_groups"]))
            )
    out.print(table)
    err.print(f"data card: {result.files['card_md']}")


@train_app.command("lora")
def lora_command(
    data: Annotated[
        Path, typer.Option("--data", "-d", help="Exported JSONL (or the --out name of an export).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the adapter.")],
    base: Annotated[
        str, typer.Option(help="Base model (only local/smollm2 is supported here).")
    ] = "local/smollm2",
    method: Annotated[str, typer.Option(help="sft, or dpo for preference data.")] = "sft",
    epochs: Annotated[int, typer.Option(help="Passes over the data.")] = 3,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    alpha: Annotated[int | None, typer.Option(help="LoRA alpha (default 2 × rank).")] = None,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 2e-4,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N optimiser steps.")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 4,
    max_length: Annotated[int, typer.Option(help="Tokens per example; longer ones are cut.")] = 2048,
    beta: Annotated[float, typer.Option(help="DPO temperature.")] = 0.1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto (bf16 where the hardware has it), fp32 or bf16.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for LoRA init and batch order.")] = 0,
    checkpointing: Annotated[
        bool, typer.Option(help="Recompute activations in backprop: less memory, one extra forward pass.")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing adapter folder.")] = False,
    json_mode: Json = False,
) -> None:
    """Train a LoRA adapter for the embedded model on exported data (loads as local/smollm2+adapter:DIR)."""
    from agentevo.train.lora import TrainSettings
    from agentevo.train.trainer import train_lora

    settings = TrainSettings(
        method=choice(method, ("sft", "dpo"), "--method"),
        epochs=epochs,
        rank=rank,
        alpha=alpha,
        lr=lr,
        batch_size=batch_size,
        max_steps=max_steps,
        max_length=max_length,
        seed=seed,
        device=device,
        dtype=dtype,
        beta=beta,
        checkpointing=checkpointing,
    )
    result = train_lora(
        data, base, out_dir, settings, overwrite=overwrite, progress=err.is_terminal or not json_mode
    )
    if json_mode:
        return print_json(result.to_json())
    table = Table("adapter", "steps", "loss first → last", "tokens/s", "peak MB", "adapter MB", "device")
    table.add_row(
        str(result.adapter_dir),
        str(result.steps),
        f"{result.loss_first:.4f} → {result.loss_last:.4f}",
        f"{result.tokens_per_s:,.0f}",
        f"{result.peak_memory_mb:,.0f}",
        f"{result.adapter_mb:.1f}",
        f"{result.device} {result.dtype}",
    )
    out.print(table)
    err.print(f"use it: --model local/smollm2+adapter:{result.adapter_dir}")


@train_app.command("eval")
def eval_command(
    adapter: Annotated[
        Path, typer.Option("--adapter", "-a", help="Adapter folder from `agentevo train lora`.")
    ],
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite to evaluate on.")],
    split: Split = "test",
    limit: Annotated[int | None, typer.Option(help="Only the first N held-out tasks.")] = None,
    seed: Seed = 0,
    samples: Samples = 1,
    max_steps: MaxSteps = None,
    concurrency: Concurrency = 1,
    sandbox: Sandbox = None,
    config: Config = None,
    workspace: Workspace = None,
    db: RunsDb = None,
    json_mode: Json = False,
) -> None:
    """Run held-out tasks with and without the adapter (same tasks, same seeds); success rates and the paired
    difference with 95% CIs."""
    from agentevo.train.evaluate import EvalRequest, evaluate_adapter

    request = EvalRequest(
        adapter=adapter,
        suite=suite,
        split=split,
        limit=limit,
        seed=seed,
        samples=samples,
        max_steps=max_steps,
        concurrency=concurrency,
        sandbox=sandbox,
        config=config,
    )
    report = evaluate_adapter(
        request, workspace_dir(workspace), db, progress=err.is_terminal or not json_mode
    )
    if json_mode:
        return print_json(report.to_json())
    out.print(report_table(report))


def report_table(report: Any) -> Table:
    table = Table("arm", "model", "episodes", "success", "95% CI (Wilson)", "run")
    for arm in report.arms:
        lo, hi = arm.ci95
        table.add_row(
            arm.name, arm.model, str(arm.n), percent(arm.rate), f"{percent(lo)}–{percent(hi)}", arm.run_id
        )
    d = report.difference
    lo, hi = d.ci95
    p = f", McNemar p={d.p_value:.3f}" if d.p_value is not None else ""
    table.caption = (
        f"adapter − base: {100 * d.diff:+.1f} points "
        f"(paired bootstrap 95% CI {100 * lo:+.1f} to {100 * hi:+.1f}; "
        f"{d.n} pairs, adapter-only wins {d.b_only}, base-only wins {d.a_only}{p})"
        + (f"; {report.excluded_seen} tasks left out as seen in training" if report.excluded_seen else "")
    )
    return table
