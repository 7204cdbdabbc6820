import pytest

from agentevo.errors import ModelError
from agentevo.testing import FunctionModel, HashEmbedder, ScriptedModel, UnexpectedModelCall

MSG = [{"role": "user", "content": "hi"}]


def test_scripted_model_replies_in_order_and_records_calls():
    model = ScriptedModel(["one", "two"])
    assert model.complete(MSG).text == "one"
    assert model.complete(MSG, stop=["\n"]).text == "two"
    assert [c.stop for c in model.calls] == [[], ["\n"]]
    model.assert_complete()


def test_scripted_model_fails_loudly_when_exhausted():
    model = ScriptedModel(["only"])
    model.complete(MSG)
    with pytest.raises(UnexpectedModelCall):
        model.complete(MSG)


def test_scripted_model_raises_scripted_errors():
    model = ScriptedModel([ModelError("rate limited"), "after"])
    with pytest.raises(ModelError):
        model.complete(MSG)
    assert model.complete(MSG).text == "after"


def test_function_model_sees_the_messages():
    model = FunctionModel(lambda messages, tools: messages[-1]["content"].upper())
    assert model.complete(MSG).text == "HI"


def test_hash_embedder_is_deterministic_and_similarity_follows_wording():
    embed = HashEmbedder(dim=64)
    a, b, c = embed(["click the submit button", "click the submit button now", "sort a list of numbers"])
    assert embed(["click the submit button"])[0] == a
    dot = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert dot(a, b) > dot(a, c)
    assert abs(dot(a, a) - 1.0) < 1e-9
