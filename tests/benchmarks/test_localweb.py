"""The local-web suites without a browser: committed files, splits, evaluator coverage, fresh instances."""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict

import pytest

from agentevo.benchmarks import get_suite, load_all
from agentevo.benchmarks.localweb import BY_TEMPLATE, NAME, build, committed, make_instances
from agentevo.benchmarks.localweb.build import TEMPLATES, committed_indices, tasks_dir
from agentevo.benchmarks.localweb.data import seed_data
from agentevo.errors import SuiteError


def test_the_committed_task_files_are_what_the_templates_build():
    # Editing the seed, a template or a task file by hand without rebuilding would break answer keys.
    built = build.build()
    for name, content in built.files().items():
        on_disk = json.loads((tasks_dir() / f"{NAME}.{name}.json").read_text())
        assert on_disk == json.loads(json.dumps(content)), (
            "rebuild: python -m agentevo.benchmarks.localweb.build"
        )


def test_the_suite_has_at_least_60_tasks_with_every_template_in_all_three_splits():
    tasks = get_suite(NAME).tasks("all")
    assert len(tasks) >= 60
    splits = defaultdict(set)
    for t in tasks:
        splits[t.template_id].add(t.split)
    assert all(s == {"train", "validation", "test"} for s in splits.values())
    assert Counter(t.split for t in tasks) == {"train": 26, "validation": 26, "test": 52}
    per_template = Counter(t.template_id for t in tasks)
    assert min(per_template.values()) >= 3


def test_the_template_split_holds_whole_templates_out():
    tasks = get_suite(BY_TEMPLATE).tasks("all")
    by_template = defaultdict(set)
    for t in tasks:
        by_template[t.template_id].add(t.split)
    assert all(len(s) == 1 for s in by_template.values())
    assert {s for ss in by_template.values() for s in ss} == {"train", "validation", "test"}


def test_all_three_evaluators_and_impossible_tasks_are_used():
    configs = committed()[0]
    types = Counter(t for c in configs for t in c["eval"]["eval_types"])
    assert set(types) == {"string_match", "url_match", "program_html"}
    rules = Counter(k for c in configs for k in (c["eval"]["reference_answers"] or {}))
    assert rules["must_include"] and rules["exact_match"]
    assert sum(c["eval"]["reference_answers"] == {"exact_match": "N/A"} for c in configs) >= 2
    assert all(
        c["eval"]["string_note"] for c in configs if c["eval"]["reference_answers"] == {"exact_match": "N/A"}
    )


def test_configs_keep_placeholders_and_tasks_carry_references():
    for task in get_suite(NAME).tasks("all"):
        config = task.meta["config"]
        assert config["start_url"].startswith(("__SHOP__", "__FORUM__"))
        assert "127.0.0.1" not in json.dumps(config)
        assert task.meta["reference"][-1]["action"] == "stop"
        assert task.instruction == config["intent"]
        assert task.template_id == str(config["intent_template_id"])


def test_fresh_instances_are_new_deterministic_and_never_committed():
    def key(config):
        return config["intent_template_id"], json.dumps(config["instantiation_dict"], sort_keys=True)

    seen = {key(c) for c in committed()[0]}
    for tid in TEMPLATES:
        first = make_instances(tid, 3, seed=7)
        assert [t.id for t in first] == [t.id for t in make_instances(tid, 3, seed=7)]
        for task in first:
            assert key(task.meta["config"]) not in seen
            assert task.meta["fresh"] and task.split == "train"
            assert task.template_id == str(tid)


def test_fresh_instances_run_out_rather_than_repeat_committed_ones():
    tid = 111  # six wish-list items: four committed, two left
    pool = len(list(TEMPLATES[tid].candidates(seed_data())))
    assert len(make_instances(tid, 50, seed=1)) == pool - len(committed_indices(TEMPLATES[tid], seed_data()))


def test_the_suite_object_offers_fresh_instances():
    suite = get_suite(NAME)
    assert suite.make_instances is not None
    assert len(suite.make_instances("101", 2, 0)) == 2


def test_fresh_instances_of_a_held_out_template_are_refused():
    held_out = committed()[2]["templates"]["test"][0]
    with pytest.raises(SuiteError, match="held out"):
        make_instances(held_out, 2, 0, suite=BY_TEMPLATE)
    with pytest.raises(SuiteError, match="no template 999"):
        make_instances(999, 1, 0)


def test_a_malformed_task_file_is_one_clear_error(tmp_path, monkeypatch):
    copy = tmp_path / "web"
    shutil.copytree(tasks_dir().parent, copy)
    raw = json.loads((copy / "tasks" / f"{NAME}.raw.json").read_text())
    del raw[5]["eval"]["eval_types"]
    (copy / "tasks" / f"{NAME}.raw.json").write_text(json.dumps(raw))
    monkeypatch.setenv("AGENTEVO_SITES_DIR", str(copy))
    committed.cache_clear()
    try:
        with pytest.raises(SuiteError, match=r"task 5: field eval.eval_types"):
            committed()
    finally:
        committed.cache_clear()


def test_a_reference_without_stop_is_rejected(tmp_path, monkeypatch):
    copy = tmp_path / "web"
    shutil.copytree(tasks_dir().parent, copy)
    refs = json.loads((copy / "tasks" / f"{NAME}.references.json").read_text())
    refs["3"] = refs["3"][:-1]
    (copy / "tasks" / f"{NAME}.references.json").write_text(json.dumps(refs))
    monkeypatch.setenv("AGENTEVO_SITES_DIR", str(copy))
    committed.cache_clear()
    try:
        with pytest.raises(SuiteError, match="task 3: a reference ends with a stop"):
            committed()
    finally:
        committed.cache_clear()


def test_both_suites_are_registered():
    assert {NAME, BY_TEMPLATE} <= set(load_all())
