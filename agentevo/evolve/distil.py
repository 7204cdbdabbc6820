"""Distillation into weights, for the `lora` conditions: after a round's training episodes, its successful
training trajectories train a LoRA adapter of the embedded model, and the condition's episodes — the next
round's practice and this round's evaluations, which the gate reads — run on `local/smollm2+adapter:DIR`.

    <condition folder>/adapters/data/round-K.jsonl, .card.*   the round's successes (relabelled ones too),
                                                              exported as `agentevo export --format openai
                                                              --split-by none` does: all of them train.
                                                              They are all train-split tasks, and what
                                                              judges the adapter is the gate's validation
                                                              evaluation, so no template is held out here
    <condition folder>/adapters/round-K/                    the adapter, with training.json and loss.jsonl

Each round's adapter continues training the active adapter — the last one the gate kept — or starts on the
base model while none is kept. Why: a round trains on that round's successes only; a fresh adapter on them
would forget what the kept earlier rounds taught, and retraining on every success so far would cost more
each round. Continued training accumulates like memory commits do, and the gate judges it the same way: a
round whose adapter makes validation worse is rolled back to the previous adapter (or the base), and the
next round continues from that one. A round without a success on the train side of the split trains nothing
(the adapter stays).

The settings (DISTIL_SETTINGS) are fixed and small, for the CPU: 2 epochs over the round's examples but
at most 16 optimiser steps, batch 4, rank 8 on all projections, lr 5e-4 (a higher rate than `train lora`'s
default, since there are few steps), examples cut at 2,048 tokens. On an idle 2-core machine a step of 4
examples took 2.6 s (shared/reference/machine.md), so 16 steps would take about 42 s (an estimate from that
figure, not a measured round); on a crowded one a step of 4 HumanEval conversations (2,200 tokens) took
30–130 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from agentevo.errors import ConfigError, ExportError
from agentevo.records import Trajectory
from agentevo.train.lora import SUPPORTED_BASES, TrainSettings

T = TypeVar("T")
TRAINABLE = SUPPORTED_BASES[0]  # the embedded model: the only base these conditions can train
DISTIL_SETTINGS = TrainSettings(epochs=2, max_steps=16, batch_size=4, lr=5e-4, rank=8, max_length=2048)


def uses_lora(condition: str) -> bool:
    return "lora" in condition.split("+")


def check_trainable(conditions: Sequence[str], model: str) -> None:
    """Only the embedded model's weights can be trained here: fail before anything runs."""
    wanting = [c for c in conditions if uses_lora(c)]
    if not wanting:
        return
    if model != TRAINABLE:
        raise ConfigError(
            f"--ablate {wanting[0]} trains the embedded model's weights: use --model {TRAINABLE}, not {model}"
        )
    from agentevo.train.lora import require_extra

    require_extra("sft")


def in_child_process(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` in a fresh (spawned) process and return its result. Training on the CPU peaks at several GB
    (about 5 GB at batch 4 and 2,048 tokens with recomputed activations; bench/lora_memory.py), and the
    allocator keeps that memory after it returns: in the evolution's own process, the lora conditions of a
    long run added up to an out-of-memory kill on a 24 GB machine. A child gives the memory back when it
    exits."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def adapter_folder(round_: int) -> str:
    """The adapter of round K, relative to the condition's folder (the state stores it so)."""
    return f"adapters/round-{round_}"


def train_adapter(
    trajectories: Sequence[Trajectory],
    folder: Path,
    round_: int,
    start_from: Path | None,
    settings: TrainSettings = DISTIL_SETTINGS,
) -> dict[str, Any]:
    """Export the round's successes and train the round's adapter (continuing `start_from`, or from the
    base when None). Returns what the state records: `trained` is the new adapter's folder (relative to
    `folder`), or None with a `note` saying why nothing was trained."""
    from agentevo.train.export import ExportSettings, export_trajectories
    from agentevo.train.trainer import train_lora

    data = folder / "adapters" / "data" / f"round-{round_}.jsonl"
    try:
        export = export_trajectories(
            trajectories, data, ExportSettings(format="openai", filter="success", split_by="none")
        )
    except ExportError as exc:  # none of them held a usable reply
        return {"trained": None, "note": str(exc)}
    counts = export.card["counts"]
    relative = adapter_folder(round_)
    steps = settings.epochs * -(-counts["train"] // settings.batch_size)
    settings = replace(settings, max_steps=min(settings.max_steps or steps, steps))  # a cap, not a target
    started = time.perf_counter()
    result = in_child_process(
        train_lora,
        export.files["train"],
        TRAINABLE,
        folder / relative,
        settings,
        overwrite=True,  # a round stopped while training trains again from the start
        progress=False,
        start_from=start_from,
    )
    return {
        "trained": relative,
        "examples": result.examples,
        "steps": result.steps,
        "loss_first": result.loss_first,
        "loss_last": result.loss_last,
        "device": result.device,
        "seconds": round(time.perf_counter() - started, 1),  # loading the model included
    }
