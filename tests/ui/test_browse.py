"""Reading through the workbench in the real Chromium: runs, a web episode step by step with its
screenshots, two episodes side by side, memory search and commit diffs, tools, and an evolution run."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from playwright.sync_api import expect

from tests.ui.workspace import EVOLVE_ID


def test_the_runs_list_shows_success_with_its_interval_and_opens_a_run(server, page, made):
    page.goto(server.url + "runs")
    good = page.locator("#runs tr", has_text=made["runs"][0])
    expect(good).to_contain_text("100.0% (1)")
    expect(good).to_contain_text("20.7–100.0%")  # Wilson at 1/1
    good.get_by_role("link", name=made["runs"][0]).click()
    expect(page.locator("h1")).to_have_text(made["runs"][0])
    expect(page.locator("#success")).to_contain_text("1/1")
    expect(page.locator("#episodes")).to_contain_text("click-button/train")


def test_stepping_through_a_web_episode_shows_each_steps_screenshot(server, page, made):
    page.goto(server.url + "runs/" + made["runs"][1])
    page.get_by_role("link", name="click-button/train").click()
    expect(page.locator("#step h2")).to_have_text("Step 0")
    first = page.locator("#screenshot")
    expect(first).to_be_visible()
    assert page.evaluate("document.getElementById('screenshot').naturalWidth") > 100
    src0 = first.get_attribute("src")
    expect(page.locator("#observation")).to_contain_text("button")
    page.locator("#next-step").click()
    expect(page.locator("#step h2")).to_have_text("Step 1")
    expect(page.locator("#screenshot")).to_be_visible()
    assert page.locator("#screenshot").get_attribute("src") != src0
    assert page.evaluate("document.getElementById('screenshot').naturalWidth") > 100
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#step h2")).to_have_text("Step 0")
    page.get_by_text("Prompt (").click()
    expect(page.locator("details.prompt")).to_contain_text("click-button")


def test_two_episodes_of_one_task_are_shown_side_by_side(server, page, made):
    page.goto(server.url + "episode?" + urlencode({"id": made["good"]}))
    page.get_by_role("link", name=re.compile("compare with another episode")).click()
    page.locator("#others").get_by_role("link", name=made["runs"][1]).click()
    table = page.locator("#compare")
    expect(table.locator("thead")).to_contain_text("success")
    expect(table.locator("thead")).to_contain_text("failure")
    assert table.locator("img.thumb").count() >= 2


def test_memory_search_ranks_items_as_the_agent_would_with_their_scores(server, page):
    page.goto(server.url + "memory/search")
    page.fill("input[name=q]", "click the button whose label matches")
    page.fill("input[name=suite]", "miniwob-lite")
    page.get_by_role("button", name="search").click()
    rows = page.locator("#hits tbody tr")
    expect(rows.first).to_contain_text("Read the button label")
    cosine = float(rows.first.locator("td").nth(5).inner_text())
    assert 0 < cosine <= 1
    expect(page.locator("#hits")).not_to_contain_text("Ignore the page")  # quarantined: never retrieved


def test_a_commit_shows_what_it_changed(server, page):
    page.goto(server.url + "memory/log")
    page.locator("#commits tbody tr", has_text="refine the workflow").get_by_role("link").first.click()
    diff = page.locator("#diff")
    expect(diff).to_contain_text("content")  # the changed field
    expect(diff.locator("td").nth(2)).not_to_contain_text("Then stop.")
    expect(diff.locator("td").nth(3)).to_contain_text("Then stop.")


def test_items_link_to_the_episodes_they_were_learned_from(server, page, made):
    page.goto(server.url + "memory")
    page.get_by_role("link", name="read-the-but").click()
    page.get_by_role("link", name=made["good"]).click()
    expect(page.locator("h1")).to_contain_text("click-button/train")


def test_near_duplicates_are_found_with_the_stores_own_similarity(server, page):
    page.goto(server.url + "memory/candidates")
    pair = page.locator("#pairs tbody tr", has_text="near-duplicate")
    expect(pair).to_contain_text("Read the button label before clicking it")


def test_a_tool_version_shows_code_tests_calls_and_a_diff(server, page):
    page.goto(server.url + "tools")
    page.get_by_role("link", name="add_numbers@v2").click()
    expect(page.locator("#source")).to_contain_text("return b + a")
    expect(page.locator("#tests")).to_contain_text("def test_adds")
    expect(page.locator("dl.facts")).to_contain_text("2 (1 ok, 1 failed")
    page.get_by_role("link", name="diff…").click()
    expect(page.locator("#diff-1")).to_contain_text("-    return a + b")
    expect(page.locator("#diff-1")).to_contain_text("+    return b + a")


def test_gate_rejections_name_the_rule(server, page):
    page.goto(server.url + "tools/rejections")
    row = page.locator("#rejections tbody tr", has_text="halve")
    expect(row).to_be_visible()
    assert row.locator("td code").inner_text().strip()


def test_learning_curve_points_show_their_figures_and_open_their_run(server, page, made):
    page.goto(server.url + f"evolve/{EVOLVE_ID}")
    point = page.locator("svg.chart .pt", has=page.locator("title", has_text="75.0%"))
    point.hover()
    tip = page.locator("#tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("memory+tools")
    expect(tip).to_contain_text("test 75.0% (3/4)")
    point.click()
    expect(page.locator("h1")).to_have_text(made["runs"][0])


def test_the_evolution_page_shows_ablations_gate_decisions_and_the_report(server, page):
    page.goto(server.url + f"evolve/{EVOLVE_ID}")
    expect(page.locator("table.ablations")).to_contain_text("memory+tools")
    expect(page.locator("#rejected")).to_contain_text("validation success fell from 75.0% to 50.0%")
    expect(page.locator("#rejected").get_by_role("link", name="memory commits")).to_be_visible()
    page.locator("#report-link").click()
    heading = page.get_by_role("heading", name="Ablations (test split, the state the gate kept)")
    expect(heading).to_be_visible()


def test_a_running_evolution_updates_live(server, page, ws):
    folder = ws / "runs" / EVOLVE_ID
    state = json.loads((folder / "state.json").read_text())
    state["status"] = "running"
    points = state["conditions"]["memory+tools"]["points"]
    (folder / "state.json").write_text(json.dumps(state))
    page.goto(server.url + f"evolve/{EVOLVE_ID}")
    expect(page.locator("#n-points")).to_have_text("5")
    points.append({**points[-1], "episodes": 6, "successes": 4, "accepted": True, "note": ""})
    (folder / "state.json").write_text(json.dumps(state))
    expect(page.locator("#n-points")).to_have_text("6", timeout=10_000)
    state["status"] = "done"
    (folder / "state.json").write_text(json.dumps(state))
    expect(page.locator("#evo-status")).to_have_text("done", timeout=10_000)


def test_evolution_files_with_new_fields_still_show_what_they_have(server, page, ws):
    """evolve's files grow (validation/test splits, several training runs per condition): shown, not fatal."""
    folder = ws / "runs" / "evo-future"
    folder.mkdir()
    point = {"condition": "memory", "episodes": 2, "successes": 1, "n": 2, "ci95": [0.1, 0.9], "run_id": "x"}
    state = {
        "evolve_id": "evo-future",
        "status": "done",
        "suite": "s",
        "new_top_level": {"anything": [1, 2]},
        "conditions": {
            "memory": {
                "points": [{**point, "split": "validation"}, {**point, "split": "test", "episodes": 4}],
                "training_runs": [{"name": "r1", "points": [{**point, "episodes": 3, "wobble": 0.5}]}],
            }
        },
    }
    summary = {"ablations": {"validation": [{"condition": "memory", "success_rate": 0.5, "extra": 7}]}}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "summary.json").write_text(json.dumps(summary))
    page.goto(server.url + "evolve/evo-future")
    expect(page.locator("p.legend")).to_contain_text("memory · split validation")
    expect(page.locator("p.legend")).to_contain_text("memory · training_run training_runs r1")
    expect(page.locator("table.ablations")).to_contain_text("extra: 7")
    page.goto(server.url + "evolve")
    expect(page.locator("#evolutions")).to_contain_text("evo-future")


def test_lists_are_read_a_page_at_a_time(server, page):
    page.goto(server.url + "runs?size=1")
    expect(page.locator("nav.pager")).to_contain_text("1–1 of 3")
    page.get_by_role("link", name="next →").click()
    expect(page.locator("nav.pager")).to_contain_text("2–2 of 3")
    assert page.locator("#runs tbody tr").count() == 1
