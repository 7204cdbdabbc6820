"""The WebArena suites, a user's --suite-file, and `agentevo score`, end to end."""

from __future__ import annotations

import json

import pytest

from agentevo.benchmarks import get_suite
from agentevo.benchmarks.webarena import file_suite
from agentevo.benchmarks.webarena.configs import load_tasks
from agentevo.benchmarks.webarena.score import score_config
from agentevo.config import RunConfig
from agentevo.errors import SuiteError
from agentevo.runs.runner import Runner
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel, last_user_text
from tests.benchmarks.webarena.cases import config
from tests.envs.web.pages import page, serve
from tests.test_cli import one_line_error, run

WA_VARS = (
    "WA_SHOPPING",
    "WA_SHOPPING_ADMIN",
    "WA_REDDIT",
    "WA_GITLAB",
    "WA_WIKIPEDIA",
    "WA_MAP",
    "WA_HOMEPAGE",
)
NO_SITES = dict.fromkeys(WA_VARS, "")


def test_the_shipped_configs_load_with_template_splits():
    lite = get_suite("webarena-lite").tasks("all")
    full = get_suite("webarena").tasks("all")
    assert (len(lite), len(full)) == (165, 812)
    assert sorted(int(t.id) for t in lite) == list(range(165))
    assert {t.split for t in lite} == {"train", "validation", "test"}
    by_template: dict[str, set[str]] = {}
    for t in full:
        by_template.setdefault(t.template_id, set()).add(t.split)
    assert all(len(splits) == 1 for splits in by_template.values())  # a template never straddles splits
    assert lite[0].meta["config"]["old_task_id"] == 4 and lite[0].kind == "web"


def test_site_urls_replace_placeholders_everywhere(monkeypatch):
    monkeypatch.setenv("WA_SHOPPING_ADMIN", "http://shop.test:7780/admin/")
    task = next(t for t in get_suite("webarena-lite").tasks("all") if t.id == "0")
    assert task.meta["start_url"] == "http://shop.test:7780/admin"
    assert task.meta["site_urls"]["__SHOPPING_ADMIN__"] == "http://shop.test:7780/admin"


def test_a_suite_can_bring_its_own_placeholders():
    raw = json.dumps([{**config(["url_match"], reference_url="__SHOP__/cart"), "start_url": "__SHOP__"}])
    (task,) = load_tasks(raw, "local.json", "local-web", {"__SHOP__": "http://127.0.0.1:5000"})
    assert task.meta["start_url"] == "http://127.0.0.1:5000"
    assert task.meta["config"]["eval"]["reference_url"] == "http://127.0.0.1:5000/cart"


def test_a_run_of_webarena_lite_without_site_urls_names_the_missing_variables(workspace):
    line = one_line_error(run("run", "--suite", "webarena-lite", "-w", str(workspace), env=NO_SITES))
    for var in ("WA_SHOPPING", "WA_SHOPPING_ADMIN", "WA_REDDIT", "WA_GITLAB", "WA_MAP"):
        assert var in line
    assert list(workspace.iterdir()) == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.pop("intent"), "field intent"),
        (lambda c: c["eval"].update(eval_types=["html_match"]), "field eval.eval_types"),
        (
            lambda c: c["eval"]["reference_answers"].update(must_include="7"),
            "field eval.reference_answers.must_include",
        ),
        (lambda c: c["eval"].update(eval_types=["url_match"]), "field eval.reference_url"),
        (
            lambda c: c["eval"].update(
                eval_types=["program_html"], program_html=[{"url": "last", "locator": ""}]
            ),
            "field eval.program_html[0].required_contents",
        ),
    ],
)
def test_a_malformed_suite_file_is_rejected_with_the_task_and_field(tmp_path, mutate, field):
    good = config(["string_match"], task_id=3, reference_answers={"must_include": ["7"]})
    bad = config(["string_match"], task_id=41, reference_answers={"must_include": ["7"]})
    mutate(bad)
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([good, bad]))
    with pytest.raises(SuiteError) as info:
        file_suite(path).tasks("all")
    assert "task 41" in str(info.value) and field in str(info.value)


def test_run_refuses_a_malformed_suite_file_before_writing_anything(workspace, tmp_path):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([config(["string_match"], task_id=5, reference_answers={"exact_match": 7})]))
    line = one_line_error(run("run", "--suite-file", str(path), "-w", str(workspace)))
    assert "task 5: field eval.reference_answers.exact_match" in line
    assert list(workspace.iterdir()) == []
    path.write_text("[{")
    with pytest.raises(SuiteError, match="not valid JSON"):
        file_suite(path).tasks("all")


def test_a_suite_file_runs_through_the_runner_and_the_manifest_records_the_evaluator(workspace, tmp_path):
    pages = {"/": page("Shop", "<h1>Cart</h1><p>3 items in your cart</p>")}
    with serve(pages) as base:
        task = {
            **config(
                ["string_match", "url_match"],
                task_id=9,
                reference_answers={"must_include": ["3"]},
                reference_url=f"{base}/",
            ),
            "start_url": base + "/",
            "intent": "How many items are in the cart?",
        }
        path = tmp_path / "tasks.json"
        path.write_text(json.dumps(task))
        suite = file_suite(path)
        cfg = RunConfig.model_validate(
            {
                "environment": {
                    "suite_file": str(path),
                    "split": "all",
                    "options": {"flavour": "vab-lite", "screenshots": False},
                }
            }
        )
        suite.check(cfg)

        def reply(messages, tools):
            assert "3 items in your cart" in last_user_text(messages)
            return "The cart shows 3 items.\n```stop [3]```"

        runner = Runner(
            config=cfg,
            workspace=workspace,
            store=TrajectoryStore.for_workspace(workspace),
            model=FunctionModel(reply),
            suite=suite,
            show_progress=False,
        )
        tasks = suite.tasks("all")
        manifest = runner.start(tasks)
        summary = runner.execute(manifest, tasks)
    assert summary.successes == 1
    assert manifest.evaluator["flavour"] == "vab-lite" and manifest.evaluator["judge"] == "rule:must-include"
    traj = runner.store.trajectory(runner.store.episodes(manifest.run_id)[0].id)
    assert traj.details["flavour"] == "vab-lite" and traj.details["answer"] == "3"


def test_score_checks_an_answer_against_a_config_without_a_browser(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(config(["string_match"], reference_answers={"must_include": ["0"]})))
    result = score_config(path, answer="0 reviews", url=None)
    assert result["reward"] == 1.0 and result["judge"] == "rule:must-include"
    assert score_config(path, answer="$0.00", url=None)["reward"] == 0.0
    assert score_config(path, answer="$0.00", url=None, flavour="vab-lite")["flavour"] == "vab-lite"


def test_score_opens_the_url_for_url_and_html_checks(tmp_path):
    with serve({"/done": page("Done", "<p id=m>Order placed</p>")}) as base:
        cfg = config(
            ["url_match", "program_html"],
            reference_url=f"{base}/done",
            program_html=[
                {
                    "url": "last",
                    "locator": "document.querySelector('#m').outerText",
                    "required_contents": {"exact_match": "order placed"},
                }
            ],
        )
        path = tmp_path / "task.json"
        path.write_text(json.dumps(cfg))
        ok = json.loads(run("score", "--config", str(path), "--url", f"{base}/done", "--json").stdout)
        assert ok["reward"] == 1.0
        assert "--url" in one_line_error(run("score", "--config", str(path)))


def test_require_login_tasks_start_with_the_sites_storage_state(tmp_path):
    from agentevo.benchmarks.webarena.driver import WebArenaDriver
    from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions

    show_cookie = (
        "<p id=c></p><script>document.getElementById('c').textContent = 'cookie ' + document.cookie</script>"
    )
    prepared = []
    with serve({"/": page("Account", show_cookie)}) as base:
        host = base.split("//")[1].split(":")[0]
        state = {
            "cookies": [
                {
                    "name": "session",
                    "value": "emma",
                    "domain": host,
                    "path": "/",
                    "expires": -1,
                    "httpOnly": False,
                    "secure": False,
                    "sameSite": "Lax",
                }
            ],
            "origins": [],
        }
        (tmp_path / "shopping_state.json").write_text(json.dumps(state))
        cfg = {
            **config(["url_match"], reference_url=base),
            "start_url": base + "/",
            "require_login": True,
            "storage_state": "./.auth/shopping_state.json",
        }
        (task,) = load_tasks(json.dumps(cfg), "t.json", "t", {})
        options = WebOptions(storage_state_dir=str(tmp_path), screenshots=False)
        env = PlaywrightWebEnvironment(WebArenaDriver(options, prepare=prepared.append), options)
        try:
            assert "cookie session=emma" in env.reset(task).text
        finally:
            env.close()
    assert prepared == [task]
