"""url_match and program_html on live pages served by the test, in real Chromium, under each flavour."""

from __future__ import annotations

import pytest

from agentevo.benchmarks.webarena.evaluators import check
from agentevo.benchmarks.webarena.evaluators.url_match import gold_in_pred, vab_match
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions
from tests.benchmarks.webarena.cases import config, scoring
from tests.envs.web.pages import page, serve

MEMBERS = (
    "<table><tr><td data-label='Account'><span class='gl-avatar-labeled-sublabel'>@alice</span></td>"
    "<td class='col-max-role'><span>Owner</span></td></tr>"
    "<tr><td data-label='Account'><span class='gl-avatar-labeled-sublabel'>@byteblaze</span></td>"
    "<td class='col-max-role'><span>Developer</span></td></tr></table>"
)
PAGES = {
    "/order/5": page("Order 5", "<h1>Order #5</h1><span id=status>Shipped</span><p>Tom &amp; Jerry mug</p>"),
    "/search": page("Search", "<p>results</p>"),
    "/settings": page(
        "Settings",
        "<div id=rule></div><p id=n>7</p>"
        "<script>function expand() { document.getElementById('rule').textContent='Discount 20%' }</script>",
    ),
    "/f/books/12/": page("Post 12", "<h1>Reading list</h1><div class=post>Dune, Emma</div>"),
    "/f/books/12/reading-list": page("Post 12 slug", "<h1>Reading list</h1>"),
    "/project/members": page("Members", MEMBERS),
}


@pytest.fixture(scope="module")
def base():
    with serve(PAGES) as url:
        yield url


@pytest.fixture(scope="module")
def env():
    e = PlaywrightWebEnvironment(options=WebOptions(screenshots=False))
    yield e
    e.close()


def score_on(env, url, cfg, answer="", flavour="webarena", **kw):
    env.open(url)
    return env.call(lambda: check(scoring(cfg, answer, flavour, page=env.page, context=env.context, **kw)))


def html(targets, **ev):
    return config(["program_html"], program_html=targets, **ev)


def target(url="last", locator="", **contents):
    return {"url": url, "locator": locator, "required_contents": contents}


# --- url_match ------------------------------------------------------------------------------------------


def test_gold_in_pred_matches_query_parameters_in_any_order_with_extras_allowed():
    ref = "http://h/search?q=shoes&page=2"
    assert gold_in_pred("http://h/search?page=2&sort=asc&q=shoes", [ref], "GOLD in PRED") == 1.0
    assert gold_in_pred("https://h/search/?q=shoes&page=2", [ref], "GOLD in PRED") == 1.0  # scheme, slash
    assert gold_in_pred("http://h/search?q=shoes", [ref], "GOLD in PRED") == 0.0
    assert gold_in_pred("http://h/search?q=boots&page=2", [ref], "GOLD in PRED") == 0.0


def test_gold_in_pred_bases_match_by_substring_and_or_gives_alternatives():
    assert gold_in_pred("http://h/viewedasdf", ["http://h/viewed"], "GOLD in PRED") == 1.0  # webarena PR #77
    refs = "http://h/a |OR| http://h/b".split(" |OR| ")
    assert gold_in_pred("http://h/b", refs, "GOLD in PRED") == 1.0


def test_vab_lite_url_rules_exact_by_default_and_raw_gold_in_pred():
    assert vab_match("http://localhost:80/a/", ["http://127.0.0.1:80/a"], "EXACT") == 1.0
    assert vab_match("http://h/a?x=1&y=2", ["http://h/a?x=1"], "EXACT") == 0.0
    assert vab_match("http://h/a?x=1&y=2", ["http://h/a?x=1"], "GOLD in PRED") == 1.0
    assert vab_match("http://h/a?y=2&x=1", ["http://h/a?x=1&y=2"], "GOLD in PRED") == 0.0  # order matters


def test_url_match_reads_the_live_page(env, base):
    cfg = config(["url_match"], reference_url=f"{base}/search?q=mug", url_note="GOLD in PRED")
    assert score_on(env, f"{base}/search?page=1&q=mug", cfg)[0] == 1.0
    assert score_on(env, f"{base}/search?q=cup", cfg)[0] == 0.0
    exact = config(["url_match"], reference_url=f"{base}/search?q=mug")
    assert score_on(env, f"{base}/search?q=mug", exact, flavour="vab-lite")[0] == 1.0
    assert score_on(env, f"{base}/search?q=mug&page=1", exact, flavour="vab-lite")[0] == 0.0


def test_an_unknown_url_rule_is_an_error_in_the_original(env, base):
    cfg = config(["url_match"], reference_url=f"{base}/search", url_note="EXACT")
    score, details = score_on(env, f"{base}/search", cfg)
    assert score == 0.0 and "not a rule" in details["url_match"]["error"]


# --- program_html -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["webarena", "vab-lite", "browsergym-lite"])
def test_a_js_locator_on_the_last_page_is_compared_exactly(env, base, flavour):
    cfg = html([target(locator="document.querySelector('#status').outerText", exact_match="shipped")])
    assert score_on(env, f"{base}/order/5", cfg, flavour=flavour)[0] == 1.0
    wrong = html([target(locator="document.querySelector('#status').outerText", exact_match="Pending")])
    assert score_on(env, f"{base}/order/5", wrong, flavour=flavour)[0] == 0.0


def test_a_failing_locator_selects_nothing(env, base):
    cfg = html([target(locator="document.querySelector('#nope').outerText", must_include=["x"])])
    score, details = score_on(env, f"{base}/order/5", cfg)
    assert score == 0.0 and details["program_html"]["targets"][0]["selected"] == ""


def test_a_target_url_opens_in_its_own_tab_and_or_alternatives_count(env, base):
    cfg = html([target(url=f"{base}/order/5", must_include=["Delivered |OR| Shipped", "Order #5"])])
    score, _ = score_on(env, f"{base}/search", cfg)
    assert score == 1.0
    assert env.page.url == f"{base}/search"  # the agent's final page is untouched


def test_the_whole_page_is_html_unescaped_only_by_the_original(env, base):
    cfg = html([target(must_include=["Tom & Jerry"])])
    assert score_on(env, f"{base}/order/5", cfg, flavour="webarena")[0] == 1.0
    assert score_on(env, f"{base}/order/5", cfg, flavour="browsergym-lite")[0] == 0.0


def test_prep_actions_run_before_the_locator(env, base):
    locator = "document.querySelector('#rule').innerText"
    plain = html([target(locator=locator, must_include=["Discount 20%"])])
    assert score_on(env, f"{base}/settings", plain)[0] == 0.0  # collapsed until expanded
    prepared = html(
        [
            {
                **target(locator=locator, must_include=["Discount 20%"]),
                "prep_actions": ["expand()", "oops("],
            }
        ]
    )
    assert score_on(env, f"{base}/settings", prepared)[0] == 1.0


def test_lambda_locators_and_none_selections_follow_the_flavour(env, base):
    cfg = html([target(locator="lambda:() => document.querySelector('#nope')", must_include=[""])])
    score, details = score_on(env, f"{base}/order/5", cfg, flavour="vab-lite")
    assert score == 0.0 and details["program_html"]["targets"][0]["selected"] is None
    score, details = score_on(env, f"{base}/order/5", cfg, flavour="webarena")
    assert score == 0.0 and "unknown locator" in details["program_html"]["error"]


def test_fuzzy_match_in_program_html_exists_only_in_the_lite_flavours(env, base):
    cfg = html([target(locator="document.querySelector('.post').outerText", fuzzy_match=["Dune", "Emma"])])
    score, details = score_on(env, f"{base}/f/books/12/", cfg, flavour="webarena")
    assert score == 0.0 and "not rules of flavour webarena" in details["program_html"]["error"]
    assert score_on(env, f"{base}/f/books/12/", cfg, flavour="browsergym-lite")[0] == 1.0


def test_vab_lite_required_values_in_program_html(env, base):
    cfg = html([target(locator="document.querySelector('#n').outerText", required_values=["> 5"])])
    assert score_on(env, f"{base}/settings", cfg, flavour="vab-lite")[0] == 1.0


def test_func_helpers_resolve_the_post_url_and_read_the_members_table(env, base):
    post = html([target(url="func:reddit_get_post_url('__last_url__')", locator="", must_include=["Dune"])])
    assert score_on(env, f"{base}/f/books/12/reading-list", post)[0] == 1.0
    role = html(
        [
            target(
                locator="func:gitlab_get_project_memeber_role(__page__, 'byteblaze')", exact_match="Developer"
            )
        ]
    )
    assert score_on(env, f"{base}/project/members", role)[0] == 1.0


def test_shopping_helpers_say_clearly_when_the_site_is_missing_or_down(env, base):
    cfg = html([target(url="func:shopping_get_latest_order_url()", must_include=["x"])])
    _, details = score_on(env, f"{base}/search", cfg)
    assert "WA_SHOPPING is not set" in details["program_html"]["error"]
    _, details = score_on(env, f"{base}/search", cfg, site_urls={"__SHOPPING__": "http://127.0.0.1:9"})
    assert "cannot reach the shopping site" in details["program_html"]["error"]


def test_evaluators_multiply_across_eval_types(env, base):
    cfg = config(
        ["string_match", "url_match"],
        reference_answers={"must_include": ["shipped"]},
        reference_url=f"{base}/order/5",
    )
    assert score_on(env, f"{base}/order/5", cfg, answer="It shipped")[0] == 1.0
    assert score_on(env, f"{base}/search", cfg, answer="It shipped")[0] == 0.0
