"""The embedded model's speed, and what our wrapper costs on top of calling transformers directly.

Same prompts, same greedy decoding, same loaded weights (so the same tokens come out), in one run:
`EmbeddedModel.complete` against `tokenizer.apply_chat_template` + `model.generate` + `decode`.
"""

from __future__ import annotations

import time

from _common import report

from agentevo.models.local import EmbeddedModel

PROMPTS = [
    "Write a Python function that returns the sum of a list of numbers.",
    "Explain in two sentences what a binary search does.",
    "List three colours and one fruit.",
]
NEW_TOKENS = 48
ROUNDS = 3


def direct(weights, prompt: str) -> tuple[float, int]:
    import torch

    tok, model = weights.tokenizer, weights.model
    started = time.perf_counter()
    enc = tok.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tok.eos_token_id)
    n_new = out.shape[1] - enc["input_ids"].shape[1]
    tok.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return time.perf_counter() - started, int(n_new)


def wrapped(model: EmbeddedModel, prompt: str) -> tuple[float, int]:
    started = time.perf_counter()
    reply = model.complete([{"role": "user", "content": prompt}], max_tokens=NEW_TOKENS)
    return time.perf_counter() - started, reply.tokens_out


def main() -> None:
    model = EmbeddedModel()
    started = time.perf_counter()
    weights = model.load()
    load_s = time.perf_counter() - started
    wrapped(model, "warm up")
    times = {"direct": [0.0, 0], "agentevo": [0.0, 0]}
    for _ in range(ROUNDS):
        for prompt in PROMPTS:  # interleaved, so machine load hits both alike
            for name, fn in (
                ("direct", lambda p: direct(weights, p)),
                ("agentevo", lambda p: wrapped(model, p)),
            ):
                secs, n = fn(prompt)
                times[name][0] += secs
                times[name][1] += n
    rows, data = (
        [],
        {"new_tokens_per_call": NEW_TOKENS, "calls": ROUNDS * len(PROMPTS), "load_seconds": load_s},
    )
    for name, (secs, n) in times.items():
        rows.append([name, n / secs, 1000 * secs / (ROUNDS * len(PROMPTS))])
        data[name] = {"tokens_per_s": n / secs, "ms_per_call": 1000 * secs / (ROUNDS * len(PROMPTS))}
    ratio = times["agentevo"][0] / times["direct"][0]
    overhead_ms = 1000 * (times["agentevo"][0] - times["direct"][0]) / (ROUNDS * len(PROMPTS))
    data.update(ratio=ratio, overhead_ms_per_call=overhead_ms)
    rows.append(["ratio agentevo / direct", ratio, overhead_ms])
    report(
        "model_speed",
        "embedded SmolLM2-135M: tokens/s and wrapper overhead",
        ["variant", "tokens/s", "ms per call"],
        rows,
        data,
    )
    print(f"load {load_s:.1f} s; wrapper overhead {overhead_ms:.1f} ms per call (ratio {ratio:.3f})")


if __name__ == "__main__":
    main()
