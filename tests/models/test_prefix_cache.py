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
