from agentevo.models.cache import CachedModel
from agentevo.testing import FunctionModel

MSG = [{"role": "user", "content": "hi"}]


def test_cache_replays_the_same_reply_and_survives_reopening(tmp_path):
    counter = iter(range(100))
    inner = FunctionModel(lambda messages, tools: f"reply {next(counter)}")
    first = CachedModel(inner, tmp_path / "cache.db")
    assert first.complete(MSG).text == "reply 0"
    again = first.complete(MSG)
    assert (again.text, again.cached) == ("reply 0", True)
    assert first.complete(MSG, temperature=0.7).text == "reply 1"  # parameters are part of the key
    first.close()
    reopened = CachedModel(inner, tmp_path / "cache.db")
    assert reopened.complete(MSG).text == "reply 0"
    assert len(inner.calls) == 2
