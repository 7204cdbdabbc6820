"""The LoRA trainer for the embedded model: SFT with loss on the assistant replies only, on CPU or CUDA.

What makes it faster than a plain Hugging Face `Trainer` on agent data (measured in bench/lora_speed.py):
batches of similar length (little padding), and logits computed only where the loss is — agent prompts are
mostly context, and the 49k-wide output layer over every position is a large share of the work.

The adapter is written to a staging folder and renamed into place when training ends, beside `loss.jsonl`
(one line per step) and `training.json` (settings, data, device, figures, the templates it was trained on).
`local/smollm2+adapter:DIR` loads it.
"""

from __future__ import annotations

import math
import os
import random
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentevo.errors import ConfigError, TrainError
from agentevo.train.data import IGNORE, Example

SUPPORTED_BASES = ("local/smollm2",)
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EXTRA_HINT = "pip install 'agentevo[train]'"


@dataclass(frozen=True)
class TrainSettings:
    method: Literal["sft", "dpo"] = "sft"
    epochs: int = 3
    rank: int = 8
    alpha: int | None = None  # 2 × rank when unset
    dropout: float = 0.05
    lr: float = 2e-4
    batch_size: int = 4
    max_steps: int | None = None
    max_length: int = 2048
    warmup_ratio: float = 0.05
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | fp32 | bf16
    beta: float = 0.1  # DPO temperature
    group_by_length: bool = True
    logits_on_targets_only: bool = True
    checkpointing: bool = True  # recompute each layer's activations in the backward pass (see with_lora)


@dataclass
class TrainResult:
    adapter_dir: Path
    method: str
    base: str
    device: str
    dtype: str
    examples: int
    skipped: int
    steps: int
    tokens: int  # real (non-padding) tokens processed
    target_tokens: int
    seconds: float
    tokens_per_s: float
    loss_first: float
    loss_last: float
    peak_memory_mb: float
    adapter_mb: float
    losses: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["adapter_dir"] = str(self.adapter_dir)
        data.pop("losses")
        return data


# --- checks that come before any work ---------------------------------------------------------------------


def require_extra(method: str) -> None:
    """peft (and for DPO trl + datasets) come with the `agentevo[train]` extra."""
    needed = ["peft", "trl", "datasets"] if method == "dpo" else ["peft"]
    for name in needed:
        try:
            __import__(name)
        except ImportError:
            raise TrainError(
                f"training needs the extra agentevo[train] ({EXTRA_HINT}): {name} is missing"
            ) from None


def check_base(base: str) -> None:
    from agentevo.models.local import ADAPTER_MARK, parse_spec

    if base not in SUPPORTED_BASES:
        if base.startswith("local/") and ADAPTER_MARK not in base:
            parse_spec(base)  # names the embedded models there are
        raise ConfigError(
            f"cannot train {base!r}: the only supported base here is {', '.join(SUPPORTED_BASES)} "
            "(the embedded model); export the data (agentevo export) to train other models elsewhere"
        )


def pick_device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def pick_dtype(name: str, device: Any) -> Any:
    """auto: bf16 on a CUDA device that has it, and bf16 autocast on a CPU with native bf16 instructions
    (AVX512-BF16 / AMX: 1.3× faster than fp32 here, see bench/lora_speed.py); fp32 otherwise."""
    import torch

    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    table = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if name not in table:
        raise ConfigError(f"unknown dtype {name!r}; use auto, fp32 or bf16")
    return table[name]


def cpu_has_bf16() -> bool:
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: absent means unknown
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


# --- model ------------------------------------------------------------------------------------------------


def load_base(device: Any, dtype: Any) -> tuple[Any, Any]:
    """The embedded model's weights (fp32 master copy on the CPU; bf16 storage on CUDA) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentevo.models.engines.transformers import ensure_converted, quiet_transformers

    quiet_transformers()
    path = ensure_converted()
    tokenizer = AutoTokenizer.from_pretrained(path)
    storage = dtype if device.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=storage)
    model.config.use_cache = False
    return model.to(device), tokenizer


def lora_config(settings: TrainSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha or 2 * settings.rank,
        lora_dropout=settings.dropout,
        target_modules=list(TARGET_MODULES),
        task_type="CAUSAL_LM",
    )


def with_lora(model: Any, settings: TrainSettings, start_from: Path | None = None) -> Any:
    """A fresh adapter on the base model, or (`start_from`) an existing adapter trained further; the latter
    keeps that adapter's own rank and targets. With `checkpointing`, the backward pass recomputes each
    layer's activations instead of keeping all 30 layers' from the forward pass: the same gradients
    in a fraction of the memory, for one more forward pass per step (bench/lora_memory.py measures both)."""
    if settings.checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:  # its name before transformers renamed it
            model.gradient_checkpointing_enable({"use_reentrant": False})
    if start_from is not None:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(start_from), is_trainable=True)
    from peft import get_peft_model

    return get_peft_model(model, lora_config(settings))


# --- batches ----------------------------------------------------------------------------------------------


def plan_batches(
    lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool
) -> list[list[int]]:
    """One epoch of batches. Grouped by length within shuffled windows (little padding, still random), the
    batch with the longest example first so that running out of memory shows at once."""
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    rng.shuffle(order)
    if group_by_length:
        window = batch_size * 16
        order = [
            i
            for w in range(0, len(order), window)
            for i in sorted(order[w : w + window], key=lambda i: -lengths[i])
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
        longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
        batches.insert(0, batches.pop(longest))
    return batches


def collate(examples: Sequence[Example], pad_id: int, device: Any) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


# --- the loss ---------------------------------------------------------------------------------------------


def completion_loss(model: Any, batch: dict[str, Any], targets_only: bool = True) -> Any:
    """Mean cross-entropy over the label tokens; the output layer runs on those positions only."""
    import torch.nn.functional as F

    if not targets_only:
        return model(**batch).loss
    causal = model.get_base_model()
    hidden = causal.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    logits = causal.lm_head(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, labels[keep])


# --- training ---------------------------------------------------------------------------------------------

StepLog = Callable[[dict[str, Any]], None]


def schedule(total: int, warmup_ratio: float) -> Callable[[int], float]:
    warm = math.ceil(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return factor


def train_examples(
    model: Any,
    examples: Sequence[Example],
    settings: TrainSettings,
    *,
    pad_id: int,
    on_step: StepLog = lambda record: None,
) -> list[dict[str, Any]]:
    """The training loop over tokenised examples; returns one record per optimiser step."""
    import torch

    device = next(model.parameters()).device
    dtype = pick_dtype(settings.dtype, device)
    params = [p for p in model.parameters() if p.requires_grad]
    per_epoch = math.ceil(len(examples) / settings.batch_size)
    total = settings.max_steps or per_epoch * settings.epochs
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(total, settings.warmup_ratio))
    autocast = dtype != torch.float32
    records = []
    model.train()
    torch.manual_seed(settings.seed)
    for step, (epoch, batch_ids) in enumerate(epoch_batches(examples, settings, total)):
        started = time.perf_counter()
        batch = collate([examples[i] for i in batch_ids], pad_id, device)
        with torch.autocast(device.type, dtype=dtype) if autocast else nullcontext():
            loss = completion_loss(model, batch, settings.logits_on_targets_only)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainError(f"the loss became {value} at step {step + 1}: lower --lr")
        records.append(step_record(step, epoch, value, sched, batch, time.perf_counter() - started))
        on_step(records[-1])
    return records


def epoch_batches(
    examples: Sequence[Example], settings: TrainSettings, total: int
) -> Iterator[tuple[int, list[int]]]:
    lengths = [len(e.input_ids) for e in examples]
    step, epoch = 0, 0
    while True:
        for ids in plan_batches(
            lengths, settings.batch_size, settings.seed + epoch, settings.group_by_length
        ):
            if step >= total:
                return
            yield epoch, ids
            step += 1
        epoch += 1


def step_record(
    step: int, epoch: int, loss: float, sched: Any, batch: dict[str, Any], seconds: float
) -> dict[str, Any]:
    tokens = int(batch["attention_mask"].sum())
    return {
        "step": step + 1,
        "epoch": epoch,
        "loss": round(loss, 5),
        "lr": sched.get_last_lr()[0],
        "tokens": tokens,
        "target_tokens": int((batch["labels"] != IGNORE).sum()),
        "padded_tokens": int(batch["attention_mask"].numel()),
        "seconds": round(seconds, 4),
    }


# --- memory, errors, output folder -----------------------------------------------------------------------


def peak_memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@contextmanager
def oom_as_error(device: Any, settings: TrainSettings, longest: int) -> Iterator[None]:
    import torch

    try:
        yield
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        text = str(exc).lower()
        if not isinstance(exc, torch.OutOfMemoryError | MemoryError) and not (
            "out of memory" in text or "can't allocate memory" in text
        ):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainError(
            f"out of memory on {device} at batch size {settings.batch_size} (longest example {longest} "
            "tokens): lower --batch-size or --max-length"
        ) from None


def staging_dir(out: Path, overwrite: bool) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty: pass --overwrite or choose another --out")
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    return staging


def publish(staging: Path, out: Path) -> None:
    """Move the finished adapter into place; an older one at `out` goes only once the new one is there."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.glob("adapter_model*")) / 2**20
