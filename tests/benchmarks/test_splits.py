"""Every suite has three stable, disjoint splits: train (practice), validation (decisions), test (reports)."""

from __future__ import annotations

import itertools

import pytest

from agentevo.benchmarks import get_suite, stable_split, suite_split
from agentevo.benchmarks.miniwob import SEED_OFFSETS

SUITES = ("humaneval", "miniwob-lite", "os", "local-web", "local-web-templates", "webarena-lite", "webarena")


@pytest.mark.parametrize("name", SUITES)
def test_every_suite_has_three_disjoint_non_empty_splits(name):
    suite = get_suite(name)
    assert suite.splits == ("train", "validation", "test")
    ids = {split: {t.id for t in suite.tasks(split)} for split in suite.splits}
    assert all(ids.values()), ids
    assert not ids["train"] & ids["validation"] and not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]
    assert set().union(*ids.values()) == {t.id for t in suite.tasks("all")}


def test_validation_is_carved_from_train_so_the_test_split_did_not_move():
    keys = [f"HumanEval/{i}" for i in range(164)]
    for key in keys:
        two_way, three_way = stable_split(key), suite_split(key)
        assert (two_way == "test") == (three_way == "test")
    assert {suite_split(k) for k in keys} == {"train", "validation", "test"}


def test_miniwob_splits_draw_from_disjoint_seed_ranges():
    offsets = sorted(SEED_OFFSETS.values())
    assert offsets[0] == 0 and all(b - a >= 1_000_000 for a, b in itertools.pairwise(offsets))


def test_templates_held_out_for_validation_get_no_practice_instances():
    from agentevo.benchmarks.localweb import BY_TEMPLATE, make_instances
    from agentevo.errors import SuiteError

    held = {t.template_id for t in get_suite(BY_TEMPLATE).tasks("validation")}
    with pytest.raises(SuiteError, match="held out for validation"):
        make_instances(next(iter(held)), 1, 0, suite=BY_TEMPLATE)
