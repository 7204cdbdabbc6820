"""Training tokens/s of agentevo's LoRA trainer against a plain Hugging Face `Trainer`, in one run.

Same model (the embedded SmolLM2-135M), same tokenised examples with the same completion-only labels, same
LoRA settings (rank, alpha, dropout, all 7 projections), same optimiser settings, batch size and number of
epochs: only the trainer differs. Tokens are real (non-padding) tokens; time is the training loop alone
(weights are loaded before the clock starts). Our trainer's CPU dtype choice is measured too (fp32 and bf16
autocast).

The examples come from the real pipeline: HumanEval episodes run through the Runner (a function model that
solves some tasks at once and others after failed tries, so lengths vary as in real agent data), exported
as OpenAI JSONL, read back and tokenised by the trainer's own code. `--data FILE` uses an export of yours.

    python bench/lora_speed.py [--examples 16] [--max-length 1024] [--batch-size 4] [--epochs 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def agent_data(n: int, workdir: Path) -> Path:
    """n successful HumanEval trajectories (1–3 steps each) through the Runner, exported as OpenAI JSONL."""
    from agentevo.benchmarks import get_suite
    from agentevo.config import RunConfig
    from agentevo.runs.runner import Runner
    from agentevo.runs.store import TrajectoryStore
    from agentevo.testing import FunctionModel
    from agentevo.train.export import ExportSettings, export_from_store

    tasks = get_suite("humaneval").tasks("all")[:n]

    def reply(messages: list[dict[str, Any]], tools: Any) -> str:
        task = next(t for t in tasks if any(t.instruction in m["content"] for m in messages))
        tries = sum(m["role"] == "assistant" for m in messages) - 1  # minus the built-in demonstration
        if tries < int(task.id.split("/")[1]) % 3:
            return f"Let me try.\n```python\ndef {task.meta['entry_point']}(*args):\n    return None\n```"
        return f"```python\n{task.meta['prompt']}{task.meta['reference']}```"

    cfg = RunConfig.model_validate({"sandbox": {"backend": "local"}, "limits": {"max_steps": 3}})
    store = TrajectoryStore.for_workspace(workdir)
    runner = Runner(cfg, workdir, store, FunctionModel(reply), get_suite("humaneval"), show_progress=False)
    runner.execute(runner.start(tasks), tasks)
    out = workdir / "bench.jsonl"
    export_from_store(store, out, ExportSettings(format="openai", split_by="none"))
    return out


def examples_from(path: Path, tokenizer: Any, max_length: int) -> list[Any]:
    from agentevo.train.data import read_rows
    from agentevo.train.trainer import tokenize_rows

    return tokenize_rows(tokenizer, read_rows(path), max_length)[0]


def fresh_model(settings: Any) -> tuple[Any, Any]:
    import torch

    from agentevo.train.lora import load_base, with_lora

    model, tokenizer = load_base(torch.device("cpu"), torch.float32)
    return with_lora(model, settings), tokenizer


def run_ours(examples: list[Any], settings: Any) -> dict[str, Any]:
    from agentevo.train.lora import train_examples

    model, tokenizer = fresh_model(settings)
    started = time.perf_counter()
    records = train_examples(model, examples, settings, pad_id=tokenizer.pad_token_id)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "steps": len(records),
        "padded_tokens": sum(r["padded_tokens"] for r in records),
        "loss_first": records[0]["loss"],
        "loss_last": records[-1]["loss"],
    }


def run_plain(examples: list[Any], settings: Any, workdir: Path) -> dict[str, Any]:
    """The Trainer as its documentation sets it up for causal-LM fine-tuning with our labels."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    model, tokenizer = fresh_model(settings)
    data = Dataset.from_list([{"input_ids": e.input_ids, "labels": e.labels} for e in examples])
    losses: list[float] = []
    padded: list[int] = []

    class Watch(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)

    def counting(features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collator(features)
        padded.append(int(batch["input_ids"].numel()))
        return batch

    args = TrainingArguments(
        output_dir=str(workdir / "plain"),
        per_device_train_batch_size=settings.batch_size,
        num_train_epochs=settings.epochs,
        learning_rate=settings.lr,
        lr_scheduler_type="linear",
        warmup_steps=settings.warmup_ratio,  # below 1: a share of the steps
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        seed=settings.seed,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=counting, callbacks=[Watch()])
    trainer.remove_callback(PrinterCallback)  # its per-step dicts would bury the table
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "steps": len(padded),
        "padded_tokens": sum(padded),
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an OpenAI/TRL/ShareGPT export to train on")
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="each arm once per round, order alternating")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16-autocast arm")
    parser.add_argument("--ablations", action="store_true", help="also ours without each speed-up")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from agentevo.models.engines.transformers import ensure_converted
    from agentevo.train.lora import TrainSettings

    settings = TrainSettings(
        batch_size=args.batch_size, epochs=args.epochs, max_length=args.max_length, dtype="fp32"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = args.data or agent_data(args.examples, workdir)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(ensure_converted())
        examples = examples_from(data, tokenizer, args.max_length)[: args.examples]
        tokens = sum(len(e.input_ids) for e in examples) * args.epochs
        load_before = os.getloadavg()[0]
        arms = measure(examples, settings, workdir, args.rounds, not args.no_bf16, args.ablations)
    report(arms, examples, tokens, settings, load_before)


def measure(
    examples: list[Any], settings: Any, workdir: Path, rounds: int, bf16: bool, ablations: bool
) -> dict[str, Any]:
    """Every arm once per round, the order reversed every other round, so that a machine whose load drifts
    (others share it) weighs on all arms alike; an arm's time is the sum over its rounds."""
    from agentevo.train.lora import TrainSettings

    runs: dict[str, Any] = {
        "hf Trainer (plain)": lambda: run_plain(examples, settings, workdir),
        "agentevo fp32": lambda: run_ours(examples, settings),
    }
    variants = {
        "agentevo bf16 autocast": {"dtype": "bf16"} if bf16 else None,
        "agentevo fp32, no length grouping": {"group_by_length": False} if ablations else None,
        "agentevo fp32, logits everywhere": {"logits_on_targets_only": False} if ablations else None,
    }
    for name, change in variants.items():
        if change is not None:
            variant = TrainSettings(**{**settings.__dict__, **change})
            runs[name] = lambda variant=variant: run_ours(examples, variant)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for r in range(rounds):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            results[name].append(runs[name]())
            print(f"round {r + 1}: {name} {results[name][-1]['seconds']:.1f} s", flush=True)
    return {
        name: {
            **rs[-1],
            "seconds": sum(x["seconds"] for x in rs),
            "rounds_seconds": [round(x["seconds"], 2) for x in rs],
        }
        for name, rs in results.items()
    }


def report(arms: dict[str, Any], examples: list[Any], tokens: int, settings: Any, load_before: float) -> None:
    rounds = len(arms["hf Trainer (plain)"]["rounds_seconds"])
    tokens *= rounds  # every arm trained on the examples once per round
    plain = tokens / arms["hf Trainer (plain)"]["seconds"]
    title = f"LoRA training speed: {len(examples)} examples × {rounds} rounds, {tokens:,} real tokens per arm"
    table = Table(title=title)
    for col in ("trainer", "steps", "padded tokens", "seconds", "tokens/s", "× plain", "loss first → last"):
        table.add_column(col)
    for name, arm in arms.items():
        arm["tokens_per_s"] = tokens / arm["seconds"]
        arm["ratio_vs_plain"] = arm["tokens_per_s"] / plain
        table.add_row(
            name,
            str(arm["steps"]),
            f"{arm['padded_tokens']:,}",
            f"{arm['seconds']:.1f}",
            f"{arm['tokens_per_s']:,.1f}",
            f"{arm['ratio_vs_plain']:.2f}×",
            f"{arm['loss_first']:.3f} → {arm['loss_last']:.3f}",
        )
    Console().print(table)
    ratio = arms["agentevo fp32"]["ratio_vs_plain"]
    print(f"ratio (agentevo fp32 / plain Trainer): {ratio:.2f}× (goal ≥ 1.0×)")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "lora_speed.json"
    payload = {
        "benchmark": "lora_speed",
        "machine": {"python": platform.python_version(), "cores": os.cpu_count(), "loadavg_1m": load_before},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "settings": {k: v for k, v in settings.__dict__.items() if k not in ("method", "beta")},
        "examples": len(examples),
        "rounds": rounds,
        "real_tokens_per_arm": tokens,
        "target_tokens": sum(e.targets for e in examples),
        "arms": arms,
        "ratio": ratio,
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
