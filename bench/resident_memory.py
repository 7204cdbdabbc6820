"""What a process holds when it uses one adapter after another (an evolution's lora rounds), with the engine
keeping only the most recently used models loaded (engines.resident) against keeping every one.

N LoRA adapters of the embedded model (random, rank 8 on q and v of every block, the shape of a distilled
round's adapter) are written to a temporary folder and converted for llama.cpp first, outside the measured
processes. Then each arm runs in a fresh process: it answers one prompt with the base model and then with
each adapter in turn, as the rounds of an evolution would, and reads its resident memory after each.

    python bench/resident_memory.py [--adapters 6] [--limit 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _common import child_json, report

PROMPT = [{"role": "user", "content": "Click the button labelled Submit. " * 40}]


def write_adapters(folder: Path, n: int) -> list[Path]:
    import numpy as np
    from safetensors.numpy import save_file

    config = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "bias": "none"}
    config["target_modules"] = ["q_proj", "v_proj"]
    shapes = {"q_proj": (576, 576), "v_proj": (192, 576)}
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        tensors = {}
        for layer in range(30):
            for module, (rows, cols) in shapes.items():
                key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
                tensors[f"{key}.lora_A.weight"] = 0.01 * rng.standard_normal((8, cols)).astype(np.float32)
                tensors[f"{key}.lora_B.weight"] = 0.01 * rng.standard_normal((rows, 8)).astype(np.float32)
        target = folder / f"round-{i + 1}"
        target.mkdir(parents=True)
        (target / "adapter_config.json").write_text(json.dumps(config))
        save_file(tensors, str(target / "adapter_model.safetensors"))
        out.append(target)
    return out


def child(limit: int, adapters: list[str]) -> None:
    """One arm: the base model, then each adapter in turn; resident memory after each reply."""
    os.environ["AGENTEVO_RESIDENT_MODELS"] = str(limit)
    from agentevo.envs.sandbox.check import rss_mb
    from agentevo.models import load_model
    from agentevo.models.engines import llama

    sizes = []
    for name in ["local/smollm2", *(f"local/smollm2+adapter:{a}" for a in adapters)]:
        load_model(name).complete(PROMPT, max_tokens=4)
        sizes.append({"rss_mb": rss_mb(), "loaded": len(llama._resident)})
    print(json.dumps(sizes))


def arm(limit: int, adapters: list[Path]) -> list[dict]:
    return child_json(__file__, "--child", str(limit), *map(str, adapters))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", type=int, default=6)
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child is not None:
        return child(args.child, rest)
    from agentevo.models.gguf_lora import gguf_adapter

    with tempfile.TemporaryDirectory() as tmp:
        adapters = write_adapters(Path(tmp), args.adapters)
        for adapter in adapters:
            gguf_adapter(adapter, None)  # converted once, outside the measured processes
        bounded = arm(args.limit, adapters)
        every = arm(args.adapters + 1, adapters)
    names = ["base", *(f"+ adapter {i + 1}" for i in range(args.adapters))]
    rows = [
        [name, b["loaded"], round(b["rss_mb"]), e["loaded"], round(e["rss_mb"])]
        for name, b, e in zip(names, bounded, every, strict=True)
    ]
    report(
        "resident_memory",
        f"Resident memory after each model's first reply (MB), llama engine, {args.adapters} adapters",
        ["used last", f"loaded (limit {args.limit})", "RSS MB", "loaded (every one kept)", "RSS MB"],
        rows,
        {"limit": args.limit, "adapters": args.adapters, "bounded": bounded, "every_one_kept": every},
    )


if __name__ == "__main__":
    main()
