import hashlib
import json
import sqlite3
import threading

import pytest

from agentevo.config import ModelConfig
from agentevo.models import load_model
from agentevo.models.cache import CachedModel
from agentevo.models.local import EmbeddedModel
from agentevo.models.sampling import AtTemperature
from agentevo.records import ToolSpec
from agentevo.testing import FunctionModel
from tests.models.test_litellm import ChatServer

MSG = [{"role": "user", "content": "hi"}]
TOOL = ToolSpec(name="click", description="Click an element.", parameters={"type": "object"})


def counting_model() -> FunctionModel:
    counter = iter(range(1000))
    return FunctionModel(lambda messages, tools: f"reply {next(counter)}")


@pytest.fixture
def servers():
    started = []
    for _ in range(2):
        srv = ChatServer()
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
    yield started
    for srv in started:
        srv.shutdown()


def test_cache_replays_the_same_reply_and_survives_reopening(tmp_path):
    inner = counting_model()
    first = CachedModel(inner, tmp_path / "cache.db")
    assert first.complete(MSG).text == "reply 0"
    again = first.complete(MSG)
    assert (again.text, again.cached) == ("reply 0", True)
    assert first.complete(MSG, temperature=0.7).text == "reply 1"  # parameters are part of the key
    first.close()
    reopened = CachedModel(inner, tmp_path / "cache.db")
    assert reopened.complete(MSG).text == "reply 0"
    assert len(inner.calls) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "hello"}]},
        {"tools": [TOOL]},
        {"stop": ["\n"]},
        {"max_tokens": 60},
        {"temperature": 0.7},
        {"seed": 3},
    ],
    ids=lambda c: next(iter(c)),
)
def test_each_call_setting_is_part_of_the_key(tmp_path, change):
    inner = counting_model()
    cached = CachedModel(inner, tmp_path / "cache.db")
    base = {"messages": MSG, "tools": [], "stop": [], "max_tokens": 50, "temperature": 0.0, "seed": 1}
    cached.complete(**base)
    assert cached.complete(**base).cached  # identical settings hit
    varied = cached.complete(**{**base, **change})
    assert not varied.cached and len(inner.calls) == 2  # a real call was made
    assert cached.complete(**{**base, **change}).cached


def test_the_runs_default_seed_keys_a_model_that_cannot_name_its_own(tmp_path):
    inner = counting_model()
    CachedModel(inner, tmp_path / "cache.db", seed=1).complete(MSG)
    CachedModel(inner, tmp_path / "cache.db", seed=2).complete(MSG)
    CachedModel(inner, tmp_path / "cache.db", seed=1).complete(MSG)
    assert len(inner.calls) == 2


@pytest.mark.parametrize(
    "change",
    [{"max_tokens": 60}, {"temperature": 0.7}, {"seed": 8}, {"name": "other"}, {"api_base": "second server"}],
    ids=lambda c: next(iter(c)),
)
def test_the_model_settings_of_a_run_are_part_of_the_key(tmp_path, servers, change):
    """The reported case: `--cache --max-tokens 50`, then `--max-tokens 60`, then `--temperature 0.7` in one
    workspace: the flags set the model's defaults, not the call's arguments, and must still miss."""
    first, second = servers
    db = tmp_path / "runs" / "responses.db"
    base = ModelConfig(name="tiny", api_base=first.url, max_tokens=50, seed=7, cache=True)
    if change.get("api_base"):
        change = {"api_base": second.url}

    def reply(cfg: ModelConfig) -> bool:
        model = load_model(cfg, cache_path=db)
        cached = model.complete(MSG).cached
        model.close()
        return cached

    assert not reply(base)
    assert reply(base)
    assert not reply(base.model_copy(update=change))
    assert reply(base.model_copy(update=change))
    assert len(first.requests) + len(second.requests) == 2
    sent = (second.requests or first.requests)[-1]
    for field in ("max_tokens", "temperature", "seed"):
        assert sent[field] == getattr(base.model_copy(update=change), field)


def test_a_sampling_wrapper_is_keyed_on_the_temperature_it_applies(tmp_path):
    inner = counting_model()
    db = tmp_path / "cache.db"
    CachedModel(AtTemperature(inner, 0.7), db).complete(MSG, seed=1)
    assert CachedModel(AtTemperature(inner, 0.7), db).complete(MSG, seed=1).cached
    assert not CachedModel(AtTemperature(inner, 1.0), db).complete(MSG, seed=1).cached
    assert not CachedModel(inner, db).complete(MSG, seed=1).cached  # greedy is another reply again
    # the evolve explorer: the wrapper outside the cache passes its temperature down as the call's
    outside = AtTemperature(CachedModel(inner, db), 0.3)
    assert not outside.complete(MSG, seed=1).cached
    assert outside.complete(MSG, seed=1).cached
    assert len(inner.calls) == 4


def test_the_embedded_models_key_covers_adapter_weights_not_just_their_folder(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes(b"first weights")
    # the transformers engine reads an adapter on first use; llama.cpp's converts it at once (a real one)
    before = EmbeddedModel(adapter, engine="transformers").reply_settings()
    assert before == EmbeddedModel(adapter, engine="transformers").reply_settings()
    (adapter / "adapter_model.safetensors").write_bytes(b"retrained weights")
    after = EmbeddedModel(adapter, engine="transformers").reply_settings()
    assert before["adapter"] != after["adapter"]
    assert EmbeddedModel().reply_settings()["adapter"] is None
    assert before["engine"] == "transformers" and EmbeddedModel().reply_settings()["engine"] == "llama"


def test_the_embedded_models_key_has_top_p_and_seed_only_when_it_samples():
    model = EmbeddedModel(seed=1, max_tokens=50)
    greedy = model.reply_settings()
    assert (greedy["temperature"], greedy["top_p"], greedy["seed"], greedy["max_tokens"]) == (
        0.0,
        None,
        None,
        50,
    )
    assert model.reply_settings(seed=9) == greedy  # a greedy reply is the same whatever the seed
    sampled = model.reply_settings(temperature=0.7, max_tokens=60)
    assert (sampled["top_p"], sampled["seed"], sampled["max_tokens"]) == (0.95, 1, 60)
    assert model.reply_settings(temperature=0.7, seed=2)["seed"] == 2


def test_replies_cached_under_the_old_key_format_are_dropped_not_replayed(tmp_path):
    db = tmp_path / "cache.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
    # format 1 hashed the call's arguments only: the same key for any --max-tokens or --temperature
    old = json.dumps(
        {
            "model": "function",
            "seed": None,
            "messages": MSG,
            "tools": [],
            "stop": [],
            "max_tokens": None,
            "temperature": None,
            "call_seed": None,
        },
        sort_keys=True,
        default=str,
    )
    stale = '{"text": "stale", "model": "function"}'
    conn.execute("INSERT INTO replies VALUES (?, ?)", (hashlib.sha256(old.encode()).hexdigest(), stale))
    conn.commit()
    conn.close()
    inner = counting_model()
    cached = CachedModel(inner, db)
    assert cached.dropped == 1
    assert cached.complete(MSG).text == "reply 0"
    cached.close()
    reopened = CachedModel(inner, db)  # the current format is kept on reopening
    assert reopened.dropped == 0 and reopened.complete(MSG).cached
