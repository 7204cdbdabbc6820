"""Peak memory and time of a distillation round's LoRA training, with activations recomputed in the backward
pass (`TrainSettings.checkpointing`, the default) against keeping every layer's activations, in one run.

Both arms train the embedded model through the trainer itself (`train_lora`) with the evolution's
distillation settings (batch 4, examples cut at 2,048 tokens, rank 8 on all projections), on the same
examples and for the same number of steps; only `checkpointing` differs. Each arm runs in a fresh process,
as distillation does (evolve.distil), and its peak is that process's resident memory at its highest
(weights loaded, tokenised, trained, adapter saved).

The examples have the shape of web practice: turns of an accessibility tree (about 520 tokens each) and a
one-line action, long enough to be cut at 2,048 tokens, which is where a web episode of a few steps ends
up. Memory depends on the shapes, not on the words.

    python bench/lora_memory.py [--examples 8] [--steps 2] [--max-length 2048]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from _common import child_json, report

ROLES = ("button", "link", "textbox", "checkbox", "heading", "combobox", "listitem")


def page(turn: int, example: int) -> str:
    lines = [f"Objective: open the order of customer {example} and report its total."]
    for i in range(24):
        role = ROLES[(i + turn) % len(ROLES)]
        lines.append(f"[{100 * turn + i}] {role} 'Item {i} of page {turn} for customer {example}'")
    return "\n".join(lines)


def write_examples(path: Path, n: int, turns: int = 8) -> None:
    rows = []
    for example in range(n):
        messages = [{"role": "system", "content": "You operate a web browser. Reply with one action."}]
        for turn in range(turns):
            messages.append({"role": "user", "content": page(turn, example)})
            messages.append({"role": "assistant", "content": f"click [{100 * turn + example % 7}]"})
        rows.append({"messages": messages})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def child(checkpointing: str, data: str, out: str, steps: int, max_length: int) -> None:
    from agentevo.evolve.distil import DISTIL_SETTINGS
    from agentevo.train.trainer import train_lora

    settings = replace(
        DISTIL_SETTINGS, max_steps=steps, max_length=max_length, checkpointing=checkpointing == "on"
    )
    result = train_lora(Path(data), "local/smollm2", Path(out), settings, progress=False)
    print(json.dumps(result.to_json() | {"losses": result.losses}))


def arm(checkpointing: str, data: Path, out: Path, steps: int, max_length: int) -> dict:
    options = ["--steps", str(steps), "--max-length", str(max_length)]
    return child_json(__file__, "--child", checkpointing, str(data), str(out), *options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(*args.child, args.steps, args.max_length)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "web.jsonl"
        write_examples(data, args.examples)
        arms = {c: arm(c, data, Path(tmp) / c, args.steps, args.max_length) for c in ("on", "off")}
    rows = [
        [
            "recomputed (default)" if c == "on" else "kept",
            round(r["peak_memory_mb"]),
            round(r["seconds"] / r["steps"], 1),
            round(r["tokens_per_s"]),
            " → ".join(f"{x:.4f}" for x in r["losses"]),
        ]
        for c, r in arms.items()
    ]
    report(
        "lora_memory",
        f"LoRA distillation on the CPU: batch 4, {args.examples} examples cut at {args.max_length} tokens, "
        f"{args.steps} steps",
        ["activations", "peak RSS MB", "s per step", "tokens/s", "loss per step"],
        rows,
        {"examples": args.examples, "steps": args.steps, "max_length": args.max_length, "arms": arms},
    )


if __name__ == "__main__":
    main()
