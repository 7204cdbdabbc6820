"""Exports of real HumanEval trajectories (Runner + sandbox + SQLite store, function models) in every format,
read back with `datasets` and TRL's dataset utilities; the template split leaks nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset
from trl.data_utils import (
    apply_chat_template,
    is_conversational,
    is_conversational_from_value,
    maybe_apply_chat_template,
    maybe_convert_to_chatml,
)

from agentevo.errors import ExportError
from agentevo.train.card import read_card
from agentevo.train.export import ExportSettings, JsonlExporter, export_from_store, export_trajectories
from agentevo.train.split import check_no_overlap
from tests.train.conftest import NOTE, RECALLED_DEMO, TOOL, Runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from agentevo.models.engines.transformers import ensure_converted

    return AutoTokenizer.from_pretrained(ensure_converted())


def export(runs: Runs, tmp_path: Path, fmt: str, **settings):
    settings = {"test_fraction": 0.3, **settings}
    return export_from_store(runs.store, tmp_path / f"{fmt}.jsonl", ExportSettings(format=fmt, **settings))


def load(result, side="train"):
    return load_dataset("json", data_files=str(result.files[side]), split="train")


def rows(result, side="train"):
    return [json.loads(line) for line in result.files[side].read_text().splitlines()]


# --- each format, validated by its readers ---------------------------------------------------------------


def test_openai_rows_carry_tool_calls_weights_and_load_in_datasets(runs, tmp_path):
    result = export(runs, tmp_path, "openai")
    data = load(result)
    assert len(data) == result.card["counts"]["train"] > 0
    all_rows = rows(result) + rows(result, "test")
    assert len(all_rows) == 15  # every successful trajectory of the three runs
    calls = [m for r in all_rows for m in r["messages"] if m.get("tool_calls")]
    assert calls, "the memory run called a tool on its first step"
    for r in all_rows:
        msgs = r["messages"]
        assert msgs[-1]["role"] == "assistant" and msgs[0]["role"] == "system"
        for i, m in enumerate(msgs):
            if m.get("tool_calls"):
                call = m["tool_calls"][0]
                assert call["type"] == "function" and call["function"]["name"] == TOOL.name
                assert json.loads(call["function"]["arguments"]) == {"lines": 5}
                assert msgs[i + 1] == {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": msgs[i + 1]["content"],
                }
        demo_answers = [m for m in msgs[1:4] if m["role"] == "assistant"]
        assert all(m["weight"] == 0 for m in demo_answers)  # a demonstration is context, not an action
        if any(m.get("tool_calls") for m in msgs):
            assert r["tools"][0]["function"]["name"] == TOOL.name
    assert is_conversational(data[0])


def test_trl_rows_pass_trls_chat_template_utilities(runs, tmp_path, tokenizer):
    result = export(runs, tmp_path, "trl")
    data = load(result)
    assert all(is_conversational(row) for row in data)
    for row in rows(result):
        plain = [m for m in row["messages"] if not m.get("tool_calls")]  # SmolLM2's template knows no tools
        text = maybe_apply_chat_template({"messages": plain}, tokenizer)["text"]
        assert text.startswith("<|im_start|>system") and text.rstrip().endswith("<|im_end|>")
    tool_rows = [r for r in rows(result) + rows(result, "test") if "tools" in r]
    call = next(m for r in tool_rows for m in r["messages"] if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"] == {"name": TOOL.name, "arguments": {"lines": 5}}
    assert any(m["role"] == "tool" and m["name"] == TOOL.name for r in tool_rows for m in r["messages"])


def test_sharegpt_rows_follow_llama_factory_turn_order_and_convert_to_chatml(runs, tmp_path, tokenizer):
    result = export(runs, tmp_path, "sharegpt")
    data = load(result)
    assert all(is_conversational_from_value(row) for row in data)
    for row in rows(result) + rows(result, "test"):
        turns = row["conversations"]
        assert turns[0]["from"] == "system"
        for i, t in enumerate(turns[1:]):
            assert t["from"] in (("human", "observation") if i % 2 == 0 else ("gpt", "function_call"))
        assert turns[-1]["from"] in ("gpt", "function_call")
        chatml = maybe_convert_to_chatml(json.loads(json.dumps(row)))
        assert chatml["messages"][1]["content"] == turns[1]["value"]
    called = [
        t
        for r in rows(result) + rows(result, "test")
        for t in r["conversations"]
        if t["from"] == "function_call"
    ]
    assert json.loads(called[0]["value"]) == {"name": TOOL.name, "arguments": {"lines": 5}}


def test_dpo_pairs_a_success_and_a_failure_of_one_task_with_a_shared_prompt(runs, tmp_path, tokenizer):
    result = export(runs, tmp_path, "dpo")
    data = load(result)
    assert all(is_conversational(row) for row in data)
    pairs = rows(result) + rows(result, "test")
    assert len(pairs) == 20  # one pair for each success and failure beyond the first, per task
    for pair in pairs:
        assert pair["prompt"][-1]["role"] in ("user", "tool")
        assert pair["chosen"][0]["role"] == pair["rejected"][0]["role"] == "assistant"
        assert pair["chosen"] != pair["rejected"]
        task = runs.task_by_message(
            next(m["content"] for m in pair["prompt"] if runs.task_by_message(m["content"]))
        )
        assert (
            task.meta["reference"].strip() in pair["chosen"][-1]["content"]
        )  # the chosen ends in the solution
        assert task.meta["reference"].strip() not in pair["rejected"][-1]["content"]
    shared = result.card["counts"]["pairs_with_shared_prompt"]
    assert shared >= 10  # the two runs without memory saw the same prompts
    plain = [
        p for p in pairs if not any(m.get("tool_calls") for m in p["prompt"] + p["chosen"] + p["rejected"])
    ]
    text = apply_chat_template(plain[0], tokenizer)
    assert set(text) == {"prompt", "chosen", "rejected"} and text["chosen"].endswith("<|im_end|>\n")


def test_dpo_keeps_an_identical_first_attempt_in_the_prompt(runs, tmp_path):
    """Tasks 0, 3, 6, 9 fail their first try in the success run too: such pairs diverge after that turn."""
    pairs = rows(export(runs, tmp_path, "dpo", split_by="none"))
    extended = [p for p in pairs if "nope0" in p["prompt"][-2]["content"]]
    tasks = {runs.task_by_message(p["prompt"][-3]["content"]).id for p in extended}
    assert tasks == {"HumanEval/0", "HumanEval/3", "HumanEval/6", "HumanEval/9"}
    for p in extended:
        assert p["prompt"][-2]["role"] == "assistant" and p["prompt"][-1]["role"] == "user"
        assert "nope0" not in p["chosen"][0]["content"] and "nope1" in p["rejected"][0]["content"]


# --- leakage ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["openai", "dpo"])
def test_the_template_split_has_no_overlap_in_the_files(runs, tmp_path, fmt):
    result = export(runs, tmp_path, fmt)
    key = "messages" if fmt == "openai" else "prompt"
    sides = {}
    for side in ("train", "test"):
        sides[side] = {
            runs.task_by_message(m["content"]).template_id
            for r in rows(result, side)
            for m in r[key]
            if m["role"] == "user" and runs.task_by_message(m["content"])
        }
    assert sides["train"] and sides["test"], "both sides hold templates"
    check_no_overlap(sorted(sides["train"]), sorted(sides["test"]))
    card = read_card(result.files["train"])
    assert sorted(sides["train"]) == card["split"]["train_groups"]
    assert sorted(sides["test"]) == card["split"]["test_groups"] and card["split"]["overlap"] == []


def test_the_split_is_stable_across_exports_of_more_data(runs, tmp_path):
    some = export_from_store(
        runs.store, tmp_path / "a.jsonl", ExportSettings(test_fraction=0.3), runs=[runs.plain]
    ).card
    everything = export(runs, tmp_path, "openai").card
    assert set(some["split"]["test_groups"]) <= set(everything["split"]["test_groups"])
    assert set(some["split"]["train_groups"]) <= set(everything["split"]["train_groups"])


# --- memory inline or stripped ----------------------------------------------------------------------------


def test_strip_removes_recalled_demonstrations_and_notes_but_keeps_the_builtin_demo(runs, tmp_path):
    inline = export_from_store(
        runs.store, tmp_path / "in.jsonl", ExportSettings(format="trl", split_by="none"), runs=[runs.recalled]
    )
    strip = export_from_store(
        runs.store,
        tmp_path / "st.jsonl",
        ExportSettings(format="trl", split_by="none", with_memory="strip"),
        runs=[runs.recalled],
    )
    for row in rows(inline):
        text = json.dumps(row)
        assert RECALLED_DEMO[0] in text and NOTE in text
    for row in rows(strip):
        text = json.dumps(row)
        assert RECALLED_DEMO[0] not in text and NOTE not in text
        assert "add_all" in row["messages"][1]["content"]  # the built-in demonstration stays
        assert TOOL.name in row["messages"][3]["content"]  # offered tools stay: the agent called one
    assert inline.card["counts"]["with_recalled_experience"] == len(rows(inline)) > 0
    assert strip.card["counts"]["with_recalled_experience"] == 0


# --- the rest of the contract -----------------------------------------------------------------------------


def test_filters_select_successes_failures_or_both(runs, tmp_path):
    counts = {
        f: export(runs, tmp_path / f, "openai", filter=f).card["counts"]
        for f in ("success", "failure", "all")
    }
    assert counts["success"]["by_outcome"] == {"success": 15, "limit": 15}
    total = {f: c["train"] + c["test"] for f, c in counts.items()}
    assert total == {"success": 15, "failure": 15, "all": 30}


def test_an_empty_selection_is_a_clear_error_and_writes_nothing(runs, tmp_path):
    with pytest.raises(ExportError, match="nothing to export: 0 trajectories"):
        export_from_store(runs.store, tmp_path / "x.jsonl", ExportSettings(), suite="no-such-suite")
    with pytest.raises(ExportError, match="no run 'nope'"):
        export_from_store(runs.store, tmp_path / "x.jsonl", ExportSettings(), runs=["nope"])
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_export_whole(runs, tmp_path, monkeypatch):
    first = export(runs, tmp_path, "openai")
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(ExportError, match="No space left"):
        export(runs, tmp_path, "openai", filter="all")
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporaries, nothing truncated
    assert first.files["train"].exists()


def test_the_data_card_names_sources_counts_split_and_model(runs, tmp_path):
    result = export(runs, tmp_path, "openai")
    card = json.loads(result.files["card_json"].read_text())
    assert set(card["sources"]["runs"]) == {runs.plain, runs.plain_odd, runs.recalled}
    assert card["sources"]["suites"] == ["humaneval"] and card["sources"]["models"] == {"function": 15}
    assert card["selection"]["filter"] == "success" and card["split"]["by"] == "template"
    assert len(card["trajectory_ids"]["train"]) == card["counts"]["train"]
    md = result.files["card_md"].read_text()
    assert "## Split" in md and card["split"]["test_groups"][0] in md and card["created_at"] in md


def test_the_exporter_protocol_writes_one_file_when_not_split(runs, tmp_path):
    exporter = JsonlExporter(ExportSettings(split_by="none"))
    path = exporter.export(runs.store.trajectories([runs.plain]), tmp_path / "plain.jsonl", format="sharegpt")
    assert path == tmp_path / "plain.jsonl" and len(path.read_text().splitlines()) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.card.json", "plain.card.md", "plain.jsonl"]


def test_trajectories_without_a_prompt_layout_still_export(runs, tmp_path):
    old = [t.model_copy(update={"details": {}}) for t in runs.store.trajectories([runs.recalled])]
    result = export_trajectories(
        old, tmp_path / "old.jsonl", ExportSettings(split_by="none", with_memory="strip")
    )
    assert result.card["counts"]["without_prompt_layout"] == 5
    assert any("no prompt layout" in w for w in result.warnings)


# --- the command ------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "agentevo.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_export_command_prints_json_and_fails_in_one_line(runs, tmp_path):
    ws = str(runs.workspace)
    ok = cli(
        "export",
        "--format",
        "trl",
        "--out",
        str(tmp_path / "d.jsonl"),
        "-w",
        ws,
        "--runs",
        f"{runs.plain},{runs.plain_odd}",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["card"]["counts"]["train"] + report["card"]["counts"]["test"] == 10
    assert Path(report["files"]["test"]).exists()
    bad = cli("export", "--format", "trl", "--out", str(tmp_path / "e.jsonl"), "-w", ws, "--suite", "nosuch")
    assert bad.returncode != 0 and bad.stderr.strip().startswith("error: nothing to export")
    assert len(bad.stderr.strip().splitlines()) == 1
    wrong = cli("export", "--format", "csv", "--out", str(tmp_path / "f.jsonl"), "-w", ws)
    assert wrong.returncode == 2 and "--format 'csv'" in wrong.stderr
    assert not list(tmp_path.glob("e.*")) and not list(tmp_path.glob("f.*"))
