"""What the embedded model's prefix KV cache saves in an agent's episode: prefill tokens and seconds per call.

One web episode as the agent builds it — the web system prompt, the built-in demonstration turns, a task
message with an accessibility tree, then per step the model's own reply and a new, longer observation — is
sent call by call to SmolLM2 twice in the same run, interleaved: once with the prefix cache, once with a cache
that keeps nothing. Both arms get the very same messages (the conversation follows the cached arm's
replies), greedy decoding, the same reply limit. A second episode of the same kind follows, so its first call
can reuse the shared system prompt and demonstrations. Prefill tokens are counted at the embedding layer
(the tokens the model's first forward of a call actually computes), not taken from the cache's own counter.

    python bench/prefix_cache.py [--steps 4] [--episodes 2] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from _common import report

from agentevo.agent import prompts
from agentevo.models.local import EmbeddedModel
from agentevo.models.prefix_cache import PrefixCache


def page(title: str, step: int, rows: int) -> str:
    """An order-admin page whose table grows as the agent pages through it (a growing observation)."""
    lines = [
        "Tab 0 (current): " + title,
        "",
        f"[1] RootWebArea '{title}' focused: True",
        "\t[4] link 'Dashboard'",
        "\t[5] link 'Orders'",
        "\t[6] link 'Customers'",
        "\t[7] link 'Reports'",
        "\t[9] heading 'Orders'",
        "\t[11] searchbox 'Search orders' required: False",
        "\t[12] button 'Search'",
        "\t[14] combobox 'Status' value: 'Any' hasPopup: listbox",
        "\t[15] table ''",
    ]
    for i in range(rows):
        n = 1000 + 7 * i
        status = ("pending", "shipped", "cancelled", "delivered")[i % 4]
        lines.append(f"\t\t[{20 + 3 * i}] row 'Order #{n} — {status} — ${10 + (i * 13) % 90}.{i % 10}0'")
        lines.append(f"\t\t\t[{21 + 3 * i}] link 'View #{n}'")
    lines.append(f"\t[{20 + 3 * rows}] button 'Load more'")
    lines.append(f"\t[{21 + 3 * rows}] StaticText 'Showing {rows} of 120 orders (page {step + 1})'")
    return "\n".join(lines)


def observation(title: str, objective: str, step: int, previous: str) -> str:
    text = page(title, step, rows=6 + 3 * step)
    return prompts.render(
        "web",
        "observation.md",
        text=text,
        error=None,
        url="http://localhost:8000/admin/orders",
        meta={"objective": objective, "previous_action": previous},
    )


def first_messages(objective: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": prompts.render("web", "system.md")}]
    for user, assistant in prompts.demonstrations("web"):
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    task = prompts.render(
        "web",
        "task.md",
        task=None,
        observation=observation("Orders", objective, 0, "None"),
        notes=[],
        tools_text="",
    )
    messages.append({"role": "user", "content": task})
    return messages


class PrefillCounter:
    """Per call: the tokens its first forward computes, and when that forward ended (hooks on the model)."""

    def __init__(self, model: Any) -> None:
        self.first: int | None = None
        self.first_done: float | None = None
        model.model.embed_tokens.register_forward_pre_hook(self.count)
        model.register_forward_hook(self.done)

    def count(self, _module: Any, args: Any) -> None:
        if self.first is None:
            self.first = int(args[0].shape[1])

    def done(self, *_: Any) -> None:
        if self.first_done is None:
            self.first_done = time.perf_counter()

    def reset(self) -> None:
        self.first, self.first_done = None, None


def call(model: EmbeddedModel, weights: Any, cache: PrefixCache, counter: PrefillCounter, messages, limit):
    """One call; (reply, wall seconds, seconds until the prompt was prefilled, CPU seconds, tokens prefilled).
    The prefill seconds include tokenising and the cache's lookup and copy."""
    weights.prefixes = cache
    counter.reset()
    cpu, started = time.process_time(), time.perf_counter()
    reply = model.complete(messages, max_tokens=limit)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    prefill_s = (counter.first_done or started) - started
    return reply, seconds, prefill_s, cpu, counter.first or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="calls per episode")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48, help="reply limit of every call")
    args = parser.parse_args()

    load_start = os.getloadavg()
    model = EmbeddedModel(engine="transformers")  # the transformers engine's PrefixCache
    weights = model.engine.load()
    counter = PrefillCounter(weights.model)
    model.complete([{"role": "user", "content": "warm up"}], max_tokens=4)
    on, off = PrefixCache(), PrefixCache(capacity=0)  # capacity 0: every entry is dropped at once
    objectives = ["Find the total of order #1042.", "Which order placed last is still pending?"]
    calls: list[dict[str, Any]] = []
    same_replies = True
    for episode in range(args.episodes):
        objective = objectives[episode % len(objectives)]
        messages = first_messages(objective)
        for step in range(args.steps):
            arms = [("with", on), ("without", off)]
            if (episode * args.steps + step) % 2:
                arms.reverse()  # alternate which arm goes first, so a slow moment of the machine hits both
            got = {
                name: call(model, weights, cache, counter, messages, args.max_tokens) for name, cache in arms
            }
            reply = got["with"][0]
            same_replies &= reply.text == got["without"][0].text
            row: dict[str, Any] = {"episode": episode, "step": step, "prompt_tokens": reply.tokens_in}
            for name, (_, secs, prefill_s, cpu, fed) in got.items():
                row |= {f"prefill_{name}": fed, f"s_{name}": secs, f"prefill_s_{name}": prefill_s}
                row[f"cpu_s_{name}"] = cpu
            row |= {"skipped": row["prefill_without"] - row["prefill_with"], "reply_tokens": reply.tokens_out}
            calls.append(row)
            print(
                f"episode {episode} step {step}: {reply.tokens_in} prompt tokens, prefill "
                f"{row['prefill_without']} -> {row['prefill_with']} tokens, "
                f"{row['prefill_s_without']:.2f} -> {row['prefill_s_with']:.2f} s; call "
                f"{row['s_without']:.2f} -> {row['s_with']:.2f} s",
                flush=True,
            )
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                {
                    "role": "user",
                    "content": observation("Orders", objective, step + 1, f"scroll [down] {step}"),
                },
            ]

    rows = [
        [
            c["episode"],
            c["step"],
            c["prompt_tokens"],
            c["prefill_without"],
            c["prefill_with"],
            c["prefill_s_without"],
            c["prefill_s_with"],
            c["s_without"],
            c["s_with"],
            c["cpu_s_without"],
            c["cpu_s_with"],
        ]
        for c in calls
    ]
    mean = {k: statistics.fmean(c[k] for c in calls) for k in calls[0] if k not in ("episode", "step")}
    rows.append(
        [
            "mean",
            len(calls),
            *(mean[k] for k in ("prompt_tokens", "prefill_without", "prefill_with")),
            *(mean[k] for k in ("prefill_s_without", "prefill_s_with", "s_without", "s_with")),
            *(mean[k] for k in ("cpu_s_without", "cpu_s_with")),
        ]
    )
    fed_without = sum(c["prefill_without"] for c in calls)
    fed_with = sum(c["prefill_with"] for c in calls)
    data = {
        "settings": vars(args),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "calls": calls,
        "same_replies": same_replies,
        "prefill_tokens_without": fed_without,
        "prefill_tokens_with": fed_with,
        "mean": mean,
        "speedup_call": mean["s_without"] / mean["s_with"],
        "speedup_prefill": mean["prefill_s_without"] / mean["prefill_s_with"],
        "speedup_cpu": mean["cpu_s_without"] / mean["cpu_s_with"],
        # the median of per-call ratios: one call slowed by the machine's other work moves it little
        "median_ratio_prefill": statistics.median(
            c["prefill_s_without"] / c["prefill_s_with"] for c in calls
        ),
        "median_ratio_call": statistics.median(c["s_without"] / c["s_with"] for c in calls),
    }
    os.environ.setdefault("COLUMNS", "150")  # the whole table, also when written to a file
    report(
        "prefix_cache",
        "embedded SmolLM2-135M: one web episode's calls with and without the prefix KV cache",
        [
            "ep",
            "step",
            "prompt tok",
            "prefill tok w/o",
            "with",
            "prefill s w/o",
            "with",
            "call s w/o",
            "with",
            "CPU s w/o",
            "with",
        ],
        rows,
        data,
    )
    print(
        f"prefill {fed_without} -> {fed_with} tokens; prefill x{data['speedup_prefill']:.2f} "
        f"(median per call x{data['median_ratio_prefill']:.2f}), "
        f"call x{data['speedup_call']:.2f}, CPU x{data['speedup_cpu']:.2f}; same replies: {same_replies}; "
        f"load average {load_start[0]:.1f} -> {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
