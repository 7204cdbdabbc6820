"""Small builders shared by tests."""

from __future__ import annotations

from agentevo.agent.graph import Episode
from agentevo.benchmarks import get_suite
from agentevo.config import LimitsConfig
from agentevo.envs.code import CodeEnvironment
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.envs.sandbox.bwrap import available
from agentevo.records import Task


def humaneval_task(task_id: str) -> Task:
    return next(t for t in get_suite("humaneval").tasks("all") if t.id == task_id)


def solution(task: Task) -> str:
    """The canonical solution as a model would write it: the whole function in a python block."""
    return f"```python\n{task.meta['prompt']}{task.meta['reference']}```"


def code_env(timeout_s: float = 3.0) -> CodeEnvironment:
    backend = "bwrap" if available() else "local"
    return CodeEnvironment(lambda: open_sandbox(backend, Limits(timeout_s=timeout_s)), timeout_s=timeout_s)


def episode(env, model, **limits) -> Episode:
    return Episode(env=env, model=model, limits=LimitsConfig(**limits))


def run_with_learners(cfg, workspace, model, suite, tasks):
    """A run the way `agentevo run` makes one: the learners its run file turns on, open around it."""
    from agentevo.runs.build import build_runner, run_learners
    from agentevo.runs.store import TrajectoryStore

    store = TrajectoryStore.for_workspace(workspace)
    with run_learners(cfg, workspace, model) as (learners, pins):
        runner = build_runner(
            cfg, suite, workspace, model=model, store=store, learners=learners, show_progress=False
        )
        summary = runner.execute(runner.start(tasks, extra=pins or None), tasks)
    return summary, runner


def assert_same_greedy_reply_or_near_tie(llama, hf, messages, *, tokens: int = 24, tie: float = 0.25) -> bool:
    """Greedy replies of the llama.cpp and transformers engines to one prompt: identical, or the first
    different token is one transformers scored within `tie` logits of its best (a near-tie that 8-bit
    activations in llama.cpp can break the other way). Returns whether they were identical."""
    import torch

    # from scratch: a prefix reused from another prompt was computed in other batches, which can flip a
    # near-tie on its own (the full suite once saw that here)
    loaded = llama.engine.load()
    loaded.llm.reset()
    loaded.states.entries.clear()
    hf.engine.load().prefixes.entries.clear()
    a, b = llama.complete(messages, max_tokens=tokens), hf.complete(messages, max_tokens=tokens)
    assert a.tokens_in == b.tokens_in, first_token_difference(llama, hf, messages)  # same template, same ids
    weights = hf.engine.load()
    tok = weights.tokenizer
    ta, tb = (tok(r.text, add_special_tokens=False)["input_ids"] for r in (a, b))
    k = next((i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y), None)
    if k is None:
        return True
    prompt = tok.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt")
    ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    ids = torch.cat([ids[0], torch.tensor(tb[:k], dtype=torch.long)]).unsqueeze(0)
    with torch.inference_mode():
        logits = weights.model(ids).logits[0, -1]
    gap = float(logits.max() - logits[ta[k]])
    assert gap < tie, (gap, messages[-1], k, a.text, b.text)
    return False


def first_token_difference(llama, hf, messages) -> str:
    """Where the two engines' prompt tokens first differ, as text (for an assertion message)."""
    loaded, tok = llama.engine.load(), hf.engine.load().tokenizer
    ids_a = llama.engine.encode(messages)
    ids_b = tok.apply_chat_template(
        list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
    )
    ids_b = list(ids_b["input_ids"])
    k = next(
        (i for i, (x, y) in enumerate(zip(ids_a, ids_b, strict=False)) if x != y), min(len(ids_a), len(ids_b))
    )
    pieces_a = [loaded.llm.detokenize([t]).decode("utf-8", "replace") for t in ids_a[k : k + 4]]
    pieces_b = tok.convert_ids_to_tokens(ids_b[k : k + 4])
    return f"prompt tokens differ at {k}: llama.cpp {pieces_a} vs transformers {pieces_b}"
