"""What grammar-constrained decoding costs per reply and per token, with the embedded model's tokenizer
(SmolLM2-135M, 49 152 tokens; no weights are loaded).

    build     Guide(tokenizer, constraint): the grammar compiled for one reply, per kind
    floor     choosing the next token from random scores with no mask (argmax)
    torch     torch_logits_processor: feed the newest token, compute the mask, mask the scores, argmax
    numpy     numpy_logits_processor: the same in llama-cpp-python's form

The steps are greedy walks over random scores: each guide is driven until its grammar is finished, then a
fresh one starts, until STEPS tokens have been timed per kind and adapter. The web page has PAGE_IDS ids.

usage: python bench/constrain_cost.py [--steps 200] [--builds 5] [--threads N]
Prints a table and writes bench/results/constrain_cost.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import report, summary_ms

from agentevo.constrain import (
    Constraint,
    Guide,
    for_reply,
    hf_lltokenizer,
    judge_reply,
    numpy_logits_processor,
    reflection_reply,
    synth_reply,
    torch_logits_processor,
)
from agentevo.records import Observation, ToolSpec

PAGE_IDS = 150
PROMPT = [1, 9690, 198, 2683, 314]
TOOL = ToolSpec(
    name="search_orders",
    description="Search the orders.",
    parameters={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


def page() -> Observation:
    lines = [f"\t[{3 * i + 2}] link 'Item {i}'" for i in range(PAGE_IDS)]
    text = "Tab 0 (current): Shop\n\n[1] RootWebArea 'Shop'\n" + "\n".join(lines)
    return Observation(text=text, meta={"tabs": ["Shop"]})


def constraints() -> dict[str, Constraint]:
    obs = page()
    shell = Observation(text="The output of the OS:\n\n23")
    built = {
        "web": for_reply("web", obs, ()),
        "web+tool": for_reply("web", obs, [TOOL]),
        "os": for_reply("os", shell, ()),
        "code": for_reply("code", shell, ()),
        "reflection": reflection_reply(),
        "judge": judge_reply(),
        "synth:os": synth_reply("os", tool_args=True),
    }
    return {k: v for k, v in built.items() if v is not None}


def walk_steps(
    new: Callable[[], Any],
    step: Callable[[Any, list[int], Any], int],
    *,
    vocab: int,
    eos: int,
    steps: int,
    seed: int,
) -> list[float]:
    """Time `steps` greedy steps over random scores; `new` starts a reply, `step` picks its next token."""
    rng = np.random.default_rng(seed)
    out: list[float] = []
    state, ids = new(), list(PROMPT)
    while len(out) < steps:
        scores = rng.standard_normal(vocab).astype(np.float32)
        started = time.perf_counter()
        token = step(state, ids, scores)
        out.append(time.perf_counter() - started)
        ids.append(token)
        if token == eos or len(ids) - len(PROMPT) > 400:
            state, ids = new(), list(PROMPT)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--builds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    opts = parser.parse_args()

    import torch

    if opts.threads:
        torch.set_num_threads(opts.threads)
    from transformers import AutoTokenizer

    from agentevo.models.engines.transformers import ensure_converted

    hf = AutoTokenizer.from_pretrained(ensure_converted())
    started = time.perf_counter()
    tokenizer = hf_lltokenizer(hf)
    tokenizer_s = time.perf_counter() - started
    vocab = tokenizer.vocab_size

    def floor_step(state: Any, ids: list[int], scores: np.ndarray) -> int:
        return int(torch.from_numpy(scores).unsqueeze(0).argmax())

    def torch_step(processor: Any, ids: list[int], scores: np.ndarray) -> int:
        masked = processor(torch.tensor([ids]), torch.from_numpy(scores).unsqueeze(0))
        return int(masked.argmax())

    def numpy_step(processor: Any, ids: list[int], scores: np.ndarray) -> int:
        return int(processor(np.array(ids, dtype=np.intc), scores).argmax())

    rows: list[list[Any]] = []
    data: dict[str, Any] = {
        "tokenizer_build_s": tokenizer_s,
        "vocab": vocab,
        "page_ids": PAGE_IDS,
        "torch_threads": torch.get_num_threads(),
        "kinds": {},
    }
    for n, (name, constraint) in enumerate(constraints().items()):
        builds = []
        for _ in range(opts.builds):
            started = time.perf_counter()
            Guide(tokenizer, constraint)
            builds.append(time.perf_counter() - started)
        entry: dict[str, Any] = {"build": summary_ms(builds), "lark_chars": len(constraint.lark)}
        adapters = {
            "floor (no mask)": (lambda: None, floor_step),
            "torch": (lambda c=constraint: torch_logits_processor(Guide(tokenizer, c)), torch_step),
            "numpy": (lambda c=constraint: numpy_logits_processor(Guide(tokenizer, c)), numpy_step),
        }
        for adapter, (new, step) in adapters.items():
            samples = walk_steps(new, step, vocab=vocab, eos=tokenizer.eos_token, steps=opts.steps, seed=n)
            entry[adapter] = summary_ms(samples)
        data["kinds"][name] = entry
        b = entry["build"]
        rows.append([name, "build (compile)", b["mean_ms"], b["p95_ms"], b["n"]])
        for adapter in adapters:
            s = entry[adapter]
            rows.append([name, f"per token: {adapter}", s["mean_ms"], s["p95_ms"], s["n"]])
    report(
        "constrain_cost",
        f"grammar-constrained decoding cost (SmolLM2 tokenizer, {vocab} tokens, "
        f"{torch.get_num_threads()} torch threads)",
        ["constraint", "what", "mean ms", "p95 ms", "n"],
        rows,
        data,
    )
    print(f"tokenizer conversion (once per tokenizer): {1000 * tokenizer_s:.0f} ms")


if __name__ == "__main__":
    main()
