"""`run_config`: the one mapping from command-line flags to a RunConfig, behind run, evolve and train eval."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentevo.config import RUN_FLAGS, RunConfig, run_config
from agentevo.errors import ConfigError


def test_every_flag_names_a_field_of_the_run_config():
    for flag, dotted in RUN_FLAGS.items():
        section, _, key = dotted.partition(".")
        assert section in RunConfig.model_fields, flag
        assert key in RunConfig.model_fields[section].annotation.model_fields, flag


def test_each_flag_sets_the_field_it_names():
    cfg = run_config(
        None,
        suite="os",
        task_ids=["count-lines-1"],
        model="openai/gpt-4o-mini",
        max_steps=7,
        concurrency=2,
        seed=3,
        sandbox="local",
        tools=True,
        memory=False,
    )
    assert cfg.environment.suite == "os"
    assert cfg.environment.task_ids == ["count-lines-1"]
    assert cfg.model.name == "openai/gpt-4o-mini"
    assert (cfg.limits.max_steps, cfg.run.concurrency, cfg.run.seed) == (7, 2, 3)
    assert cfg.sandbox.backend == "local"
    assert (cfg.archive.enabled, cfg.memory.enabled) == (True, False)


def test_a_flag_left_out_keeps_the_run_files_value(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  name: openai/gpt-4o-mini\nrun:\n  seed: 5\n")
    assert run_config(path, model=None, seed=None).model.name == "openai/gpt-4o-mini"
    assert run_config(path, model="local/smollm2").model.name == "local/smollm2"
    assert run_config(path).run.seed == 5


def test_the_model_samples_with_the_run_seed_unless_the_file_sets_its_own(tmp_path: Path):
    assert run_config(None, seed=4).model.seed == 4
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  seed: 11\n")
    assert run_config(path, seed=4).model.seed == 11


def test_a_bad_value_is_one_config_error_and_an_unknown_flag_a_programming_error():
    with pytest.raises(ConfigError, match="max_steps"):
        run_config(None, max_steps=0)
    with pytest.raises(TypeError, match="no flag 'modle'"):
        run_config(None, modle="x")
