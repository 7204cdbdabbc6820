"""Parameterising task instances: values become {param}s; a new instance binds new values."""

import collections
import json
from importlib import resources

from agentevo.memory.params import align, bind, parameterise, replace_all, substitute

INSTRUCTION = 'Create the file /tmp/notes.txt containing "hello world", repeated 12 times, in save_notes'


def test_values_of_an_instruction_become_named_parameters():
    template, params = parameterise(INSTRUCTION)
    assert template == 'Create the file {path} containing "{text}", repeated {number} times, in {name}'
    assert params == {"path": "/tmp/notes.txt", "text": "hello world", "number": "12", "name": "save_notes"}
    action = 'for i in range(12): save_notes("/tmp/notes.txt", "hello world")  # 120 bytes'
    assert substitute(action, params) == 'for i in range({number}): {name}("{path}", "{text}")  # 120 bytes'


def test_a_new_instance_binds_its_own_values_and_others_do_not():
    template, _ = parameterise(INSTRUCTION)
    other = 'Create the file /var/log/a.log containing "bye", repeated 3 times, in write_log'
    assert bind(template, other) == {
        "path": "/var/log/a.log",
        "text": "bye",
        "number": "3",
        "name": "write_log",
    }
    assert bind(template, "Delete the file /tmp/notes.txt") is None


def test_literal_braces_in_an_instruction_are_not_parameters():
    template, params = parameterise("Return {text} for the id item_42")
    assert template == "Return {{text}} for the id {name}" and params == {"name": "item_42"}
    assert bind(template, "Return {text} for the id item_7") == {"name": "item_7"}


def test_replacement_is_one_pass_and_whole_word():
    assert replace_all("a1 b2 a1b2 xa1", {"a1": "b2", "b2": "a1"}) == "b2 a1 a1b2 xa1"


def test_aligning_two_instances_finds_the_values_that_differ():
    old, new = (
        "What is the top-1 best-selling product in 2022",
        "What is the top-3 best-selling brand in 2023",
    )
    assert align(old, new) == {"top-1": "top-3", "product": "brand", "2022": "2023"}
    assert align(old, "Tell me a joke about cats") is None
    assert align(old, "What is the top-1 best-selling product type in 2022") is None  # an insertion


def test_most_webarena_instances_of_a_template_are_rewritten_exactly_into_each_other():
    """Every ordered pair of WebArena tasks sharing an intent template (3,132 pairs): aligning their
    intents must rewrite the first into the second exactly for most of them."""
    configs = json.loads(resources.files("webarena").joinpath("test.raw.json").read_text())
    by_template = collections.defaultdict(list)
    for c in configs:
        by_template[c["intent_template_id"]].append(c["intent"])
    pairs = [(a, b) for intents in by_template.values() for a in intents for b in intents if a is not b]
    exact = sum(replace_all(a, align(a, b) or {}) == b for a, b in pairs)
    print(f"webarena: {exact}/{len(pairs)} same-template pairs rewritten exactly ({exact / len(pairs):.1%})")
    assert len(pairs) > 3000 and exact / len(pairs) >= 0.7
