"""The web environment in real Chromium, against pages served by the test."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions, parse_action
from agentevo.records import Task
from tests.envs.web.pages import page, serve

PAGES = {
    "/": page(
        "Home",
        "<h1>Welcome</h1><p>Intro text</p><a href='/second'>Second page</a>"
        "<form action='/second'><label for=q>Search</label><input id=q name=q value='pre'>"
        "<button type=submit>Go</button></form>"
        "<select id=colour><option value=r>Red</option><option value=b>Blue</option></select>"
        "<div id=out></div><script>document.getElementById('colour').onchange ="
        " e => document.getElementById('out').textContent = 'chose ' + e.target.value;</script>",
    ),
    "/second": page(
        "Second", "<h2>Second page</h2><button onclick=\"this.textContent='Clicked'\">Press me</button>"
    ),
    "/long": page("Long", "".join(f"<p>Paragraph number {i}</p>" for i in range(400))),
}


@pytest.fixture(scope="module")
def base():
    with serve(PAGES) as url:
        yield url


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def env(runs):
    e = PlaywrightWebEnvironment(options=WebOptions(max_obs_tokens=0), screenshot_root=runs)
    yield e
    e.close()


def task(url: str, **meta) -> Task:
    return Task(id="t1", suite="test", kind="web", instruction="Do it", meta={"start_url": url, **meta})


def node_id(text: str, role: str, name: str) -> str:
    for line in text.splitlines():
        if f"] {role} '{name}'" in line:
            return line.strip().split("]")[0].lstrip("[")
    raise AssertionError(f"no {role} {name!r} in:\n{text}")


def act(env, text: str):
    return env.step(parse_action(f"```{text}```"))


def test_reset_shows_the_tab_header_and_the_accessibility_tree(env, base):
    obs = env.reset(task(base + "/"))
    lines = obs.text.splitlines()
    assert lines[0] == "Tab 0 (current): Home"
    assert lines[1] == ""
    assert any(line.startswith("[") and "RootWebArea 'Home'" in line for line in lines)
    assert "\t[" in obs.text  # children are tab-indented
    assert "link 'Second page'" in obs.text
    assert "textbox 'Search'" in obs.text
    assert obs.url == base + "/"
    assert obs.meta["objective"] == "Do it"
    assert "focusable" not in obs.text and "InlineTextBox" not in obs.text
    assert "StaticText 'Welcome'" not in obs.text  # repeats the heading's name, so WebArena drops it


def test_the_same_page_reads_the_same_in_every_episode(env, base):
    # Chrome's own node ids grow with every page the browser has built; the shown ids must not
    first = env.reset(task(base + "/")).text
    act(env, f"click [{node_id(first, 'link', 'Second page')}]")
    again = env.reset(task(base + "/")).text
    assert again == first
    assert first.splitlines()[2].startswith("[1] RootWebArea 'Home'")


def test_clicking_a_link_navigates_and_records_the_target(env, base):
    obs = env.reset(task(base + "/"))
    obs = act(env, f"click [{node_id(obs.text, 'link', 'Second page')}]")
    assert obs.error is None
    assert obs.url == base + "/second"
    assert obs.meta["target"] == {"role": "link", "name": "Second page"}
    assert obs.meta["previous_action"].startswith("click [")


def test_type_appends_without_clearing_and_presses_enter_by_default(env, base):
    obs = env.reset(task(base + "/"))
    obs = act(env, f"type [{node_id(obs.text, 'textbox', 'Search')}] [ shoes]")
    assert obs.url == base + "/second?q=pre+shoes"
    assert obs.meta["target"] == {"role": "textbox", "name": "Search"}


def test_type_with_zero_does_not_submit(env, base):
    obs = env.reset(task(base + "/"))
    obs = act(env, f"type [{node_id(obs.text, 'textbox', 'Search')}] [x] [0]")
    assert obs.url == base + "/"
    assert "StaticText 'prex'" in obs.text


def test_clicking_an_option_selects_it_in_a_native_select(env, base):
    obs = env.reset(task(base + "/"))
    obs = act(env, f"click [{node_id(obs.text, 'option', 'Blue')}]")
    assert obs.error is None
    assert "chose b" in obs.text


def test_a_missing_id_and_a_dead_url_become_observation_errors(env, base):
    env.reset(task(base + "/"))
    obs = act(env, "click [999999]")
    assert "no element [999999]" in obs.error
    assert not obs.done
    obs = act(env, "goto [http://127.0.0.1:9/nothing]")
    assert obs.error and "goto failed" in obs.error
    obs = act(env, "tab_focus [5]")
    assert "no tab 5" in obs.error


def test_start_url_with_and_opens_one_tab_each_and_tabs_can_be_switched(env, base):
    obs = env.reset(task(f"{base}/ |AND| {base}/second"))
    assert obs.text.splitlines()[0] == "Tab 0 (current): Home | Tab 1: Second"
    obs = act(env, "tab_focus [1]")
    assert obs.text.splitlines()[0] == "Tab 0: Home | Tab 1 (current): Second"
    assert obs.url == base + "/second"
    obs = act(env, "close_tab")
    assert obs.text.splitlines()[0] == "Tab 0 (current): Home"
    obs = act(env, "new_tab")
    assert obs.meta["tabs"] == ["Home", ""] and obs.meta["tab"] == 1
    obs = act(env, f"goto [{base}/second]")
    obs = act(env, "go_back")
    assert obs.url == "about:blank"


def test_stop_ends_the_episode_with_the_answer(env, base):
    env.reset(task(base + "/"))
    obs = act(env, "stop [42 apples]")
    assert obs.done
    assert env.answer == "42 apples"


def test_a_screenshot_is_saved_per_step_under_the_run_folder(env, base, runs):
    obs = env.reset(task(base + "/", run_id="run-1", episode_id="run-1:t1#0"))
    assert obs.screenshot_path == str(runs / "run-1" / "screenshots" / "run-1_t1_0" / "000.png")
    obs = act(env, "scroll [down]")
    assert Path(obs.screenshot_path).name == "001.png"
    assert Path(obs.screenshot_path).read_bytes()[:4] == b"\x89PNG"


def test_screenshots_can_be_turned_off(base, runs):
    quiet = PlaywrightWebEnvironment(options=WebOptions(screenshots=False), screenshot_root=runs)
    try:
        assert quiet.reset(task(base + "/", run_id="run-2")).screenshot_path is None
    finally:
        quiet.close()
    assert not (runs / "run-2").exists()


def test_act_by_role_clicks_and_types_by_accessible_name(env, base):
    env.reset(task(base + "/second"))
    obs = env.act_by_role("click", "button", "Press me")
    assert obs.error is None and "button 'Clicked'" in obs.text
    assert obs.meta["target"] == {"role": "button", "name": "Press me"}
    env.reset(task(base + "/"))
    obs = env.act_by_role("type", "textbox", "Search", "!")
    assert obs.url == base + "/second?q=pre%21"
    assert "no link named 'Nowhere'" in env.act_by_role("click", "link", "Nowhere").error


def test_the_tree_is_cut_to_the_token_budget_and_viewport_only_shows_the_top(base):
    small = PlaywrightWebEnvironment(options=WebOptions(max_obs_tokens=200, screenshots=False))
    visible = PlaywrightWebEnvironment(
        options=WebOptions(max_obs_tokens=0, viewport_only=True, screenshots=False)
    )
    try:
        obs = small.reset(task(base + "/long"))
        assert obs.meta["truncated"] and len(obs.text) < 200 * 4 + 200
        assert "scroll to see more" in obs.text
        top = visible.reset(task(base + "/long"))
        assert "Paragraph number 0'" in top.text and "Paragraph number 399'" not in top.text
        below = visible.step(parse_action("```scroll [down]```"))
        assert "Paragraph number 0'" not in below.text and "Paragraph number 30" in below.text
    finally:
        small.close()
        visible.close()


def test_an_environment_made_in_one_thread_closes_from_another(base):
    made: list[PlaywrightWebEnvironment] = []

    def worker():
        e = PlaywrightWebEnvironment(options=WebOptions(screenshots=False))
        e.reset(task(base + "/"))
        made.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    obs = made[0].step(parse_action("```scroll [down]```"))  # used from this thread too
    assert obs.error is None
    made[0].close()
    made[0].close()  # closing twice is harmless
