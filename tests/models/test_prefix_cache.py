from threading import Lock
from types import SimpleNamespace

from agentevo.models.engines import Request
from agentevo.models.engines.transformers import TransformersEngine
from agentevo.models.prefix_cache import PrefixCache, common_prefix


class FakeKV:
    """Stands in for a transformers cache: a length that crop() shortens."""

    def __init__(self, n: int) -> None:
        self.n = n

    def get_seq_length(self) -> int:
        return self.n

    def crop(self, k: int) -> None:
        assert k < 0
        self.n += k


def test_the_longest_shared_prefix_is_reused_and_the_entry_stays_intact():
    cache = PrefixCache(capacity=2)
    cache.store(list(range(40)), FakeKV(40))
    cache.store([7] * 40, FakeKV(40))
    used, kv = cache.lookup([*range(30), 99, 98])
    assert (used, kv.get_seq_length()) == (30, 30)
    assert cache.entries[0][1].get_seq_length() == 40  # the stored entry was copied, not cropped


def test_short_or_missing_prefixes_are_not_reused_and_capacity_is_kept():
    cache = PrefixCache(capacity=1)
    cache.store(list(range(40)), FakeKV(40))
    assert cache.lookup([1, 2, 3]) == (0, None)
    cache.store(list(range(100, 140)), FakeKV(40))
    assert len(cache.entries) == 1 and cache.lookup(list(range(40)))[0] == 0
    # the whole prompt may be cached already: one token is always left for the model to compute
    assert cache.lookup(list(range(100, 140)))[0] == 39
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2


def tiny_weights():
    """A real (randomly initialised) two-layer Llama: the same generate path as SmolLM2, in milliseconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from agentevo.models.engines.transformers import Weights

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return Weights(
        model=LlamaForCausalLM(config).eval(), tokenizer=SimpleNamespace(eos_token_id=0), lock=Lock()
    )


def generate(weights, ids: list[int], fed: list[int]) -> list[int]:
    """One greedy call through the transformers engine; `fed` gets the tokens its first forward computed."""
    import torch

    first = len(fed)

    def count(_module, args):
        if len(fed) == first:
            fed.append(int(args[0].shape[1]))

    hook = weights.model.model.embed_tokens.register_forward_pre_hook(count)
    try:
        enc = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        request = Request(messages=[], limit=6, temperature=0.0, top_p=1.0, seed=0)
        out = TransformersEngine(None, 8192).run(weights, enc, request)
    finally:
        hook.remove()
    return out[0].tolist()


def test_the_second_call_of_a_conversation_computes_only_its_new_tokens():
    """Fails when the prefix cache is silently ignored: then the whole second prompt is prefilled again."""
    weights = tiny_weights()
    fed: list[int] = []
    prompt = [1 + i % 60 for i in range(40)]
    first = generate(weights, prompt, fed)
    follow = [*first, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    second = generate(weights, follow, fed)
    # the stored cache covers every token of the first call but its last generated one
    assert fed == [len(prompt), len(follow) - (len(first) - 1)]
    assert weights.prefixes.reused_tokens == len(first) - 1
    weights.prefixes.entries.clear()
    assert generate(weights, follow, fed) == second  # computing from scratch gives the same tokens
    assert fed[-1] == len(follow)
