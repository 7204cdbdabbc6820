"""The local engines on the same prompts: prefill and decode speed, time to first token, 4 concurrent callers.

Variants, all SmolLM2-135M (Q4_1 GGUF), greedy, every core this process may use:
    agentevo llama          EmbeddedModel(engine="llama"): the default engine
    agentevo transformers   EmbeddedModel(engine="transformers")
    llama.cpp direct        llama_cpp.Llama.create_completion on the same tokens: the runtime itself
    transformers direct     model.generate on the same tokens

For each prompt length (about 500 and 2,000 tokens, an accessibility tree like the web observations):
    TTFT        seconds to the first token of a prompt the engine has not seen (a fresh nonce up front)
    prefill     prompt tokens / TTFT
    decode      (tokens - 1) / (time for them - TTFT), over up to 64 generated tokens
    4 callers   4 threads each asking for a fresh prompt at once: total generated tokens / wall seconds
The ratio row compares our default with the fastest variant measured in the same run (the issue's goal is
≥ 0.95 on both prefill and decode). Whole episodes are measured by bench/episode_speed.py.
`python bench/model_speed.py [--rounds 3]`; writes bench/results/model_speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from typing import Any

from _common import report

from agentevo.config import ModelConfig
from agentevo.models import load_model

LENGTHS = (500, 2000)
DECODE_TOKENS = 64


def observation(tokens: int) -> str:
    """An accessibility tree of roughly `tokens` tokens (about 4 characters a token)."""
    lines, size, i = [], 0, 0
    while size < tokens * 4:
        line = f"\t[{i}] link 'Item {i} — details and reviews' focused: False"
        lines.append(line)
        size += len(line)
        i += 1
    return "\n".join(lines)


def messages(tokens: int) -> list[dict[str, str]]:
    nonce = uuid.uuid4().hex[:8]  # a prompt no cache has seen
    return [
        {"role": "system", "content": f"Session {nonce}. You are a web agent."},
        {
            "role": "user",
            "content": observation(tokens) + "\nDescribe every item above in order, one per line.",
        },
    ]


class Agentevo:
    def __init__(self, engine: str) -> None:
        self.name = f"agentevo {engine}"
        self.model = load_model(ModelConfig(name="local/smollm2", engine=engine))

    def call(self, msgs: list[dict[str, str]], limit: int) -> tuple[int, int]:
        reply = self.model.complete(msgs, max_tokens=limit)
        return reply.tokens_in, reply.tokens_out


class LlamaDirect:
    name = "llama.cpp direct"

    def __init__(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from agentevo.models.engines.llama import file_template, quiet_stderr, threads
        from agentevo.models.local import gguf_path

        with quiet_stderr():
            self.llm = Llama(
                model_path=str(gguf_path()),
                n_ctx=8192,
                n_threads=threads(),
                n_batch=512,
                flash_attn=True,
                verbose=False,
            )
        self.template = Jinja2ChatFormatter(
            template=file_template(gguf_path()) or "", eos_token="<|im_end|>", bos_token=""
        )
        self.lock = threading.Lock()

    def call(self, msgs: list[dict[str, str]], limit: int) -> tuple[int, int]:
        with self.lock:
            prompt = self.template(messages=msgs).prompt
            ids = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
            out = self.llm.create_completion(ids, max_tokens=limit, temperature=0.0)
        return out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]


class TransformersDirect:
    name = "transformers direct"

    def __init__(self) -> None:
        from agentevo.models.engines.transformers import load_weights

        self.weights = load_weights(None)
        self.lock = threading.Lock()

    def call(self, msgs: list[dict[str, str]], limit: int) -> tuple[int, int]:
        import torch

        tok, model = self.weights.tokenizer, self.weights.model
        with self.lock:
            enc = tok.apply_chat_template(
                msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            with torch.inference_mode():
                out = model.generate(
                    **enc, max_new_tokens=limit, do_sample=False, pad_token_id=tok.eos_token_id
                )
        n_in = int(enc["input_ids"].shape[1])
        return n_in, int(out.shape[1]) - n_in


def measure(variant: Any, length: int) -> dict[str, float]:
    started = time.perf_counter()
    n_in, _ = variant.call(messages(length), 1)
    ttft = time.perf_counter() - started
    started = time.perf_counter()
    _, n_out = variant.call(messages(length), DECODE_TOKENS)
    total = time.perf_counter() - started
    decode = (n_out - 1) / max(total - ttft, 1e-6) if n_out > 1 else 0.0
    return {"prompt_tokens": n_in, "ttft_s": ttft, "prefill_tps": n_in / ttft, "decode_tps": decode}


def concurrent(variant: Any, callers: int = 4, length: int = 500) -> float:
    produced: list[int] = []

    def one() -> None:
        produced.append(variant.call(messages(length), DECODE_TOKENS)[1])

    threads = [threading.Thread(target=one) for _ in range(callers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(produced) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only-llama", action="store_true", help="the two llama.cpp variants (a build test)")
    parser.add_argument("--name", default="model_speed")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    variants: list[Any] = [Agentevo("llama"), LlamaDirect()]
    if not args.only_llama:
        variants += [Agentevo("transformers"), TransformersDirect()]
    for v in variants:
        v.call(messages(50), 4)  # warm up: weights loaded, kernels ready
    samples: dict[str, dict[int, list[dict[str, float]]]] = {
        v.name: {n: [] for n in LENGTHS} for v in variants
    }
    together: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(args.rounds):  # interleaved, so a busy moment of the machine hits every variant alike
        for v in variants:
            for n in LENGTHS:
                samples[v.name][n].append(measure(v, n))
            together[v.name].append(concurrent(v))
    import llama_cpp

    build = {"file": llama_cpp.__file__, "system_info": llama_cpp.llama_print_system_info().decode()}
    rows, data = [], {"rounds": args.rounds, "load_before": load_before, "llama_cpp": build, "variants": {}}
    for v in variants:
        entry: dict[str, Any] = {"concurrent4_tps": statistics.median(together[v.name])}
        for n in LENGTHS:
            med = {k: statistics.median(s[k] for s in samples[v.name][n]) for k in samples[v.name][n][0]}
            entry[str(n)] = med
            rows.append(
                [v.name, n, int(med["prompt_tokens"]), med["ttft_s"], med["prefill_tps"], med["decode_tps"]]
            )
        rows.append([v.name, "4 callers", "", "", "", entry["concurrent4_tps"]])
        data["variants"][v.name] = entry
    ratios = {}
    for n in LENGTHS:
        for key in ("prefill_tps", "decode_tps"):
            best = max(data["variants"][v.name][str(n)][key] for v in variants)
            ratios[f"{key}@{n}"] = data["variants"]["agentevo llama"][str(n)][key] / best
    data["default_vs_fastest"] = ratios
    data["load_after"] = os.getloadavg()[0]
    rows.append(
        [
            "default / fastest",
            "",
            "",
            "",
            min(v for k, v in ratios.items() if "prefill" in k),
            min(v for k, v in ratios.items() if "decode" in k),
        ]
    )
    report(
        args.name,
        "local engines: SmolLM2-135M, greedy (median of rounds)",
        ["variant", "prompt", "tokens", "TTFT s", "prefill tok/s", "decode tok/s"],
        rows,
        data,
    )
    print(f"load average {load_before:.1f} before, {data['load_after']:.1f} after")


if __name__ == "__main__":
    main()
