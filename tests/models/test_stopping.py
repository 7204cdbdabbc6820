"""The loop detector that ends a rambling reply of the embedded model."""

from __future__ import annotations

from agentevo.models.stopping import ends_in_loop


def test_a_short_cycle_repeated_past_the_span_is_a_loop():
    no = [91, 2753, 60]  # "[No] "
    assert ends_in_loop([5, 6, 7] + no * 8)
    assert ends_in_loop([1] * 24)


def test_a_few_repeats_or_ordinary_text_are_not():
    assert not ends_in_loop([91, 2753, 60] * 3)  # 9 tokens: too short to call
    assert not ends_in_loop(list(range(200)))
    assert not ends_in_loop([1] * 23)


def test_a_long_period_needs_three_full_repeats():
    sentence = list(range(100, 120))  # 20 tokens
    assert not ends_in_loop([7] + sentence * 2)
    assert ends_in_loop([7] + sentence * 3)
