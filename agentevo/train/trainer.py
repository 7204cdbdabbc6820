"""`agentevo train lora`: a data file in, an adapter folder out — the checks, the progress bar, the loss log,
the summary in `training.json`. The loops themselves live in lora.py (SFT) and dpo.py (preferences)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from agentevo.console import err
from agentevo.errors import ConfigError, ExportError, TrainError
from agentevo.records import utcnow
from agentevo.train import lora
from agentevo.train.data import (
    Example,
    agent_messages,
    data_kind,
    read_rows,
    resolve_data,
    tokenize,
    train_groups,
)
from agentevo.train.lora import TrainResult, TrainSettings


class LoraTrainer:
    """A trainer object: `train(dataset, base_model=..., out_dir=...)` → the adapter folder."""

    def __init__(
        self, settings: TrainSettings | None = None, *, overwrite: bool = False, progress: bool = True
    ):
        self.settings = settings or TrainSettings()
        self.overwrite = overwrite
        self.progress = progress

    def train(self, dataset: Path, *, base_model: str, out_dir: Path) -> Path:
        return train_lora(
            dataset, base_model, out_dir, self.settings, self.overwrite, self.progress
        ).adapter_dir


def train_lora(
    data: Path,
    base: str,
    out: Path,
    settings: TrainSettings,
    overwrite: bool = False,
    progress: bool = True,
    start_from: Path | None = None,
) -> TrainResult:
    """`start_from`: an SFT adapter folder to train further instead of a fresh adapter on the base."""
    validate(settings)
    continues = start_from is not None and (start_from / "adapter_config.json").is_file()
    if start_from is not None and (settings.method != "sft" or not continues):
        raise ConfigError(f"cannot train {start_from} further: SFT can continue a LoRA adapter folder only")
    lora.check_base(base)
    lora.require_extra(settings.method)
    path = resolve_data(data)
    rows = read_rows(path)
    kind = data_kind(rows, path)
    if kind != settings.method:
        hint = "--method dpo" if kind == "dpo" else "--method sft (or export --format dpo)"
        raise ConfigError(f"{path} holds {kind.upper()} data but --method is {settings.method}: use {hint}")
    check_rows(rows, kind)
    device = lora.pick_device(settings.device)
    dtype = lora.pick_dtype(settings.dtype, device)
    staging = lora.staging_dir(out, overwrite)
    try:
        model, tokenizer = lora.load_base(device, dtype)
        if settings.method == "sft":
            result = sft(model, tokenizer, rows, settings, staging, progress, start_from)
        else:
            result = dpo(model, tokenizer, rows, settings, staging, progress)
        result.base, result.device, result.dtype = base, str(device), str(dtype).removeprefix("torch.")
        result.peak_memory_mb = round(lora.peak_memory_mb(device), 1)
        result.adapter_mb = round(lora.dir_mb(staging), 2)
        result.adapter_dir = out
        write_summary(staging, result, settings, path, start_from)
        lora.publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def check_rows(rows: list[dict[str, Any]], kind: str) -> None:
    """Every row must be a conversation (or a preference pair) before any weights are loaded."""
    from agentevo.train.dpo import preference_rows

    if kind == "dpo":
        preference_rows(rows)
        return
    for n, row in enumerate(rows, 1):
        try:
            agent_messages(row)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ExportError(f"example {n} is not a conversation ({type(exc).__name__}: {exc})") from None


def validate(s: TrainSettings) -> None:
    for name, value, low in (("epochs", s.epochs, 1), ("rank", s.rank, 1), ("batch-size", s.batch_size, 1)):
        if value < low:
            raise ConfigError(f"--{name} must be at least {low}")
    if s.max_steps is not None and s.max_steps < 1:
        raise ConfigError("--max-steps must be at least 1")
    if not 0 < s.lr < 1:
        raise ConfigError("--lr must be between 0 and 1")
    if s.max_length < 16:
        raise ConfigError("--max-length must be at least 16")


def sft(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    settings: TrainSettings,
    staging: Path,
    progress: bool,
    start_from: Path | None = None,
) -> TrainResult:
    examples, skipped = tokenize_rows(tokenizer, rows, settings.max_length)
    peft_model = lora.with_lora(model, settings, start_from)
    total = settings.max_steps or -(-len(examples) // settings.batch_size) * settings.epochs
    device = next(model.parameters()).device
    started = time.perf_counter()
    with (
        loss_log(staging, total, "sft", progress) as log,
        lora.oom_as_error(device, settings, max(len(e.input_ids) for e in examples)),
    ):
        records = lora.train_examples(peft_model, examples, settings, pad_id=pad_id(tokenizer), on_step=log)
    seconds = time.perf_counter() - started
    peft_model.save_pretrained(str(staging))
    return result_from(records, staging, "sft", len(examples), skipped, seconds)


def dpo(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    settings: TrainSettings,
    staging: Path,
    progress: bool,
) -> TrainResult:
    from agentevo.train.dpo import train_preferences

    total = settings.max_steps or -(-len(rows) // settings.batch_size) * settings.epochs
    started = time.perf_counter()
    device = next(model.parameters()).device
    with (
        loss_log(staging, total, "dpo", progress) as log,
        lora.oom_as_error(device, settings, settings.max_length),
    ):
        records = train_preferences(model, tokenizer, rows, settings, staging, log)
    return result_from(records, staging, "dpo", len(rows), 0, time.perf_counter() - started)


def tokenize_rows(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> tuple[list[Example], int]:
    examples, skipped = [], 0
    for row in rows:
        ex = tokenize(tokenizer, *agent_messages(row), max_length)
        if ex.targets == 0:
            skipped += 1  # nothing to learn: every reply weighted 0, or cut off by --max-length
            continue
        examples.append(ex)
    if not examples:
        raise TrainError(f"no example has an assistant reply to learn within {max_length} tokens")
    return examples, skipped


def pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


@contextmanager
def loss_log(staging: Path, total: int, method: str, show: bool) -> Iterator[Any]:
    """A writer for `loss.jsonl` (flushed per step) that also moves the progress bar."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"[bold]train {method}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[speed]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with open(staging / "loss.jsonl", "w") as f, Progress(*columns, console=err, disable=not show) as bar:
        task = bar.add_task(method, total=total, loss="-", speed="-")

        def on_step(record: dict[str, Any]) -> None:
            f.write(json.dumps(record) + "\n")
            f.flush()
            speed = record["tokens"] / record["seconds"] if record.get("seconds") else 0
            bar.update(task, completed=record["step"], loss=f"{record['loss']:.4f}", speed=f"{speed:,.0f}")

        yield on_step


def result_from(
    records: list[dict[str, Any]], staging: Path, method: str, n: int, skipped: int, seconds: float
) -> TrainResult:
    losses = [r["loss"] for r in records]
    k = max(1, min(5, len(losses) // 4))  # mean of the first and last few steps: one step is noisy
    tokens = sum(r.get("tokens", 0) for r in records)
    busy = sum(r.get("seconds", 0.0) for r in records) or seconds
    return TrainResult(
        adapter_dir=staging,
        method=method,
        base="",
        device="",
        dtype="",
        examples=n,
        skipped=skipped,
        steps=len(records),
        tokens=tokens,
        target_tokens=sum(r.get("target_tokens", 0) for r in records),
        seconds=round(seconds, 2),
        tokens_per_s=round(tokens / busy, 1) if busy else 0.0,
        loss_first=round(sum(losses[:k]) / k, 5) if losses else float("nan"),
        loss_last=round(sum(losses[-k:]) / k, 5) if losses else float("nan"),
        peak_memory_mb=0.0,
        adapter_mb=0.0,
        losses=losses,
    )


def write_summary(
    staging: Path, result: TrainResult, settings: TrainSettings, data: Path, start_from: Path | None = None
) -> None:
    summary = {
        "format": "agentevo-adapter/1",
        "created_at": utcnow().isoformat(),
        "settings": settings.__dict__,
        "start_from": str(start_from) if start_from else None,  # the adapter trained further (None: base)
        "data": {
            "path": str(data.resolve()),
            "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
            "train_groups": train_groups(data),  # `train eval` keeps these templates out of its tasks
        },
        "result": result.to_json(),
        "packages": {p: version(p) for p in ("torch", "transformers", "peft", "trl", "agentevo")},
    }
    (staging / "training.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""
