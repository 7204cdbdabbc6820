"""Preference training of a LoRA adapter through TRL's DPOTrainer; the reference model is the base with the
adapter switched off (peft), so no second copy of the weights is held."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from agentevo.errors import ExportError
from agentevo.train.data import as_agent_messages
from agentevo.train.lora import StepLog, TrainSettings, lora_config

log = logging.getLogger(__name__)


def preference_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in the agent's own message shape (tool calls as `call NAME {json}` lines)."""
    out = []
    for n, row in enumerate(rows, 1):
        try:
            out.append({k: as_agent_messages(row[k]) for k in ("prompt", "chosen", "rejected")})
        except (KeyError, TypeError, AttributeError) as exc:
            raise ExportError(f"pair {n} is not prompt/chosen/rejected messages ({exc})") from None
    return out


def train_preferences(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    settings: TrainSettings,
    staging: Path,
    on_step: StepLog,
) -> list[dict[str, Any]]:
    os.environ.setdefault("WANDB_DISABLED", "true")
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    device = next(model.parameters()).device
    records: list[dict[str, Any]] = []

    class Relay(TrainerCallback):
        """TRL's log lines become our loss records."""

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
        ) -> None:
            if logs and "loss" in logs:
                records.append(dpo_record(state, logs))
                on_step(records[-1])

    args = DPOConfig(
        output_dir=str(staging / "trl"),
        per_device_train_batch_size=settings.batch_size,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        learning_rate=settings.lr,
        lr_scheduler_type="linear",
        warmup_steps=settings.warmup_ratio,  # below 1: a share of the steps
        beta=settings.beta,
        max_length=settings.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=settings.seed,
        bf16=device.type == "cuda" and "bfloat16" in str(model.dtype),
        use_cpu=device.type == "cpu",
        gradient_checkpointing=settings.checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        dataloader_num_workers=0,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(preference_rows(rows)),
        processing_class=tokenizer,
        peft_config=lora_config(settings),
        callbacks=[Relay()],
    )
    trainer.train()
    trainer.model.save_pretrained(str(staging))
    shutil.rmtree(staging / "trl", ignore_errors=True)  # TRL's own output folder: nothing we ship
    return records


def dpo_record(state: Any, logs: dict[str, Any]) -> dict[str, Any]:
    keep = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins")
    return {
        "step": state.global_step,
        "epoch": round(float(logs.get("epoch", 0.0)), 4),
        "loss": round(float(logs["loss"]), 5),
        "lr": logs.get("learning_rate"),
        **{k.replace("/", "_"): v for k, v in logs.items() if k in keep},
    }
