"""string_match under each flavour, on hand-made configs (no browser needed)."""

from __future__ import annotations

import pytest

from agentevo.benchmarks.webarena.evaluators import check
from agentevo.benchmarks.webarena.evaluators.string_match import check as string_check
from tests.benchmarks.webarena.cases import answers, llm_judge, scoring

FLAVOURS = ("webarena", "vab-lite", "browsergym-lite")


def reward(cfg, answer, flavour="webarena", judge=None) -> float:
    return string_check(scoring(cfg, answer, flavour, judge))[0]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_exact_match_ignores_case_and_one_pair_of_quotes(flavour):
    cfg = answers(exact_match="Luma Yoga")
    assert reward(cfg, '"luma yoga"', flavour) == 1.0
    assert reward(cfg, "Luma Yoga Pants", flavour) == 0.0


def test_exact_match_strips_spaces_except_under_vab_lite():
    cfg = answers(exact_match="42")
    assert reward(cfg, " 42 ", "webarena") == 1.0
    assert reward(cfg, " 42 ", "browsergym-lite") == 1.0
    assert reward(cfg, " 42 ", "vab-lite") == 0.0


@pytest.mark.parametrize("flavour", ["webarena", "browsergym-lite"])
def test_single_character_must_include_is_matched_as_a_token(flavour):
    cfg = answers(must_include=["0"])
    assert reward(cfg, "There are 0 reviews.", flavour) == 1.0
    assert reward(cfg, "10 reviews", flavour) == 0.0  # "0" inside "10" does not count
    assert reward(cfg, "$0.00", flavour) == 0.0  # webarena issue #211: "0.00" is one token


def test_the_token_rule_applies_only_to_a_one_item_list_in_the_original():
    cfg = answers(must_include=["0", "5"])
    assert reward(cfg, "10 and 5", "webarena") == 1.0  # two items: plain substring test
    assert reward(cfg, "10 and 5", "vab-lite") == 0.0  # VAB tokenises every single-token item


def test_vab_lite_tokenises_single_words_of_any_length():
    cfg = answers(must_include=["cat"])
    assert reward(cfg, "the category page", "webarena") == 1.0
    assert reward(cfg, "the category page", "vab-lite") == 0.0
    assert reward(cfg, "a cat.", "vab-lite") == 1.0


def test_or_in_must_include_is_an_alternative_only_under_vab_lite():
    cfg = answers(must_include=["red |OR| blue", "large"])
    assert reward(cfg, "a large blue shirt", "vab-lite") == 1.0
    assert reward(cfg, "a large blue shirt", "webarena") == 0.0
    assert reward(cfg, "a large blue shirt", "browsergym-lite") == 0.0
    assert reward(cfg, "large red |or| blue", "webarena") == 1.0  # the literal text, lowercased


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_na_tasks_pass_on_the_answer_n_a(flavour):
    cfg = answers(fuzzy_match="N/A")
    cfg["eval"]["string_note"] = "the product does not exist"
    assert reward(cfg, "N/A", flavour) == 1.0
    assert reward(cfg, "n/a", flavour) == 1.0
    assert reward(cfg, "It does not exist", flavour) == 0.0  # no judge: a reason cannot pass


def test_an_na_reason_passes_when_the_judge_says_same_and_replaces_earlier_rules():
    cfg = answers(exact_match="N/A", fuzzy_match="N/A")
    cfg["eval"]["string_note"] = "no such order"
    same, model = llm_judge("Same.")
    assert reward(cfg, "There is no such order", "webarena", same) == 1.0  # assignment, not a product
    assert "no such order" in model.calls[0].messages[-1]["content"]
    different, _ = llm_judge("different")
    assert reward(cfg, "Order is late", "webarena", different) == 0.0


def test_fuzzy_match_without_a_judge_uses_the_documented_rule():
    cfg = answers(fuzzy_match=["Emma Lopez", "Los Angeles"])
    score, details = check(scoring(cfg, "Emma Lopez from Los Angeles"))
    assert score == 1.0 and details["judge"] == "rule:must-include"
    assert reward(cfg, "Emma Lopez") == 0.0


def test_fuzzy_match_judges_items_one_by_one_in_webarena_and_joined_in_vab_lite():
    cfg = answers(fuzzy_match=["Emma", "Lopez"])
    judge, model = llm_judge("The answer is correct.")
    assert reward(cfg, "Emma Lopez", "webarena", judge) == 1.0
    assert len(model.calls) == 2
    judge, model = llm_judge("correct")
    assert reward(cfg, "Emma Lopez", "vab-lite", judge) == 1.0
    assert len(model.calls) == 1 and "Emma, Lopez" in model.calls[0].messages[-1]["content"]


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [("correct", 1.0), ("partially correct", 0.0), ("Incorrect", 0.0), ("no idea", 0.0)],
)
def test_only_a_plain_correct_verdict_passes(verdict, expected):
    judge, _ = llm_judge(verdict)
    assert reward(answers(fuzzy_match=["x"]), "x", "webarena", judge) == expected


def test_vab_lite_rules_must_exclude_one_of_and_required_values():
    assert reward(answers(must_exclude=["refund"]), "order shipped", "vab-lite") == 1.0
    assert reward(answers(must_exclude=["refund"]), "refund issued", "vab-lite") == 0.0
    assert reward(answers(one_of=["Monday", "Tuesday"]), "on tuesday", "vab-lite") == 1.0
    assert reward(answers(required_values=["< 700 |OR| == 900"]), "900", "vab-lite") == 1.0
    assert reward(answers(required_values=["< 700"]), "1,200", "vab-lite") == 0.0
    assert reward(answers(required_values=["< 700"]), "about 5", "vab-lite") == 0.0
    assert reward(answers(one_of=["Monday"]), "sunday", "webarena") == 1.0  # unknown to the original: ignored


def test_a_bare_string_must_include_is_an_error_as_in_every_harness():
    score, details = check(scoring(answers(must_include="yjlou"), "yjlou"))
    assert score == 0.0 and "must be a list" in details["string_match"]["error"]


def test_several_rules_multiply():
    cfg = answers(exact_match="7 items", must_include=["7"])
    assert reward(cfg, "7 items") == 1.0
    assert reward(answers(exact_match="7", must_include=["8"]), "7") == 0.0
