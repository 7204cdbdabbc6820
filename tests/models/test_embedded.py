"""The embedded SmolLM2 model, for real (slow: loads weights, generates on the CPU)."""

import threading

import pytest

from agentevo.errors import ConfigError, ModelNotFound
from agentevo.models import load_model
from agentevo.models.stopping import ends_in_loop

pytestmark = pytest.mark.slow


def test_embedded_model_answers_offline():
    model = load_model("local/smollm2")
    reply = model.complete([{"role": "user", "content": "Reply with one word: yes"}], max_tokens=16)
    assert reply.text.strip()
    assert reply.tokens_in > 0 and 0 < reply.tokens_out <= 16


def test_stop_sequences_cut_the_reply():
    model = load_model("local/smollm2")
    reply = model.complete(
        [{"role": "user", "content": "Count from 1 to 20, one number per line."}], stop=["5"], max_tokens=60
    )
    assert "5" not in reply.text and reply.finish_reason == "stop"


def test_one_instance_is_safe_to_share_across_threads():
    model = load_model("local/smollm2")
    results: list[str] = []
    prompt = [{"role": "user", "content": "Say hello."}]
    threads = [
        threading.Thread(target=lambda: results.append(model.complete(prompt, max_tokens=8).text))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1  # greedy decoding: same prompt, same reply, whatever the interleaving


def test_sampling_is_reproducible_with_a_seed():
    model = load_model("local/smollm2")
    prompt = [{"role": "user", "content": "Name a colour."}]
    a = model.complete(prompt, temperature=1.0, seed=7, max_tokens=12).text
    b = model.complete(prompt, temperature=1.0, seed=7, max_tokens=12).text
    assert a == b


def test_bad_embedded_specs_are_clear_errors(tmp_path):
    with pytest.raises(ModelNotFound):
        load_model("local/llama-70b")
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(f"local/smollm2+adapter:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="not a LoRA adapter"):
        load_model(f"local/smollm2+adapter:{tmp_path}")


def test_reusing_the_cache_of_an_earlier_prompt_gives_the_same_reply():
    from agentevo.models.local import EmbeddedModel

    model = EmbeddedModel(engine="transformers")  # llama.cpp reuses its own prefix (test_engines.py)
    weights = model.engine.load()
    system = {"role": "system", "content": "Answer in one short sentence. " * 20}
    first = [system, {"role": "user", "content": "Name a fruit."}]
    reply = model.complete(first, max_tokens=12).text
    follow = [*first, {"role": "assistant", "content": reply}, {"role": "user", "content": "Name another."}]
    hits = weights.prefixes.hits
    with_cache = model.complete(follow, max_tokens=12).text
    assert weights.prefixes.hits == hits + 1  # the follow-up started from the first prompt's cache
    weights.prefixes.entries.clear()
    assert model.complete(follow, max_tokens=12).text == with_cache


def test_a_reply_that_falls_into_a_loop_stops_early():
    model = load_model("local/smollm2")
    prompt = "List the letter a one hundred times: a a a a a a a a"
    reply = model.complete([{"role": "user", "content": prompt}], max_tokens=300)
    assert reply.tokens_out < 100 and reply.finish_reason == "stop"
    assert ends_in_loop(reply.text.replace(" ", ""))  # 'A,A,A,…': one cycle, repeated
