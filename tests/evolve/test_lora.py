"""Distillation into weights (`--ablate lora`): a round's successes really train a LoRA adapter of the
embedded model on the CPU; the round's evaluations and the next round's episodes run on
`local/smollm2+adapter:<that round's folder>`, and a round whose adapter makes validation worse is rolled
back to the previous adapter. The episodes themselves are played by function models that the model factory
builds for each model string (so the test controls what each adapter "does"), on the keypad environment."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from agentevo.config import RunConfig
from agentevo.evolve.conditions import ConditionLearner, parse_conditions
from agentevo.evolve.distil import TrainSettings
from agentevo.evolve.loop import Evolution
from agentevo.evolve.results import ablation_rows, summary
from agentevo.evolve.state import EvolveOptions, EvolveState, units
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel
from tests.evolve.keypad import Tally, suite, task
from tests.test_cli import one_line_error
from tests.test_cli import run as agentevo

# one-digit codes: one step an episode. The template splits the export as `agentevo export` does; the
# "keypad" template falls on its train side.
TASKS = [task("1"), task("2"), task("3", "validation"), task("4", "validation"), task("5", "test")]
TINY = TrainSettings(epochs=1, max_steps=1, batch_size=2, max_length=512, rank=4, lr=1e-3)
CODE = re.compile(r"whose code is (\d+)\.")


def code_of(messages) -> str:
    return next(m.group(1) for msg in messages if (m := CODE.search(msg["content"])))


def split_of(code: str) -> str:
    return next(t.split for t in TASKS if t.meta["code"] == code)


def keypad_player(name: str, fails_on: set[str]) -> FunctionModel:
    """Types the right digit, except on the tasks of the splits in `fails_on`."""

    def reply(messages, tools):
        code = code_of(messages)
        digit = str((int(code) + 1) % 10) if split_of(code) in fails_on else code
        return f"The code is {code}.\npress {digit}"

    return FunctionModel(reply, name=name)


class Adapters:
    """The model factory: a player for each model string it is asked for; an adapter folder named in
    `failing` fails on the splits given for it."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failing: dict[str, set[str]] = {}

    def __call__(self, name: str) -> FunctionModel:
        self.asked.append(name)
        folder = name.partition("+adapter:")[2]
        fails = next((s for tail, s in self.failing.items() if folder.endswith(tail)), set())
        return keypad_player(name, fails)


def evolution(
    workspace: Path, factory: Adapters, base, *, rounds: int, state=None, siblings=(), relabel="none"
) -> Evolution:
    cfg = RunConfig.model_validate({"environment": {"suite": "keypad"}, "limits": {"max_steps": 2}})
    opts = EvolveOptions(
        rounds=rounds, eval_every=2, ablate=["none", "lora"], train_temperature=0.0, relabel=relabel
    )
    state = state or EvolveState(
        evolve_id="evo-lora",
        suite="keypad",
        model=base.name,
        options=opts,
        config=cfg.model_dump(mode="json"),
        conditions=units(opts.ablate, 1),
    )
    state.options.rounds = rounds
    store = TrajectoryStore.for_workspace(workspace)
    return Evolution(
        cfg,
        state.options,
        workspace,
        store,
        base,
        replace(suite(TASKS, Tally()), make_instances=lambda template, n, seed: list(siblings)[:n]),
        state,
        model_for=factory,
        distil_settings=TINY,
    )


def models_of(workspace: Path, run_id: str) -> Counter[str]:
    store = TrajectoryStore.for_workspace(workspace)
    return Counter(store.trajectory(r.id).model for r in store.episodes(run_id))


def run_to_end(evo: Evolution) -> EvolveState:
    try:
        return evo.run()
    finally:
        evo.close()


@pytest.mark.slow
@pytest.mark.timeout(2400)  # two trainings of one step: seconds when idle, minutes on a crowded machine
def test_a_lora_rounds_adapter_is_used_by_the_next_round_and_rolled_back_when_validation_falls(tmp_path):
    from safetensors.torch import load_file

    factory = Adapters()
    factory.failing["adapters/round-2"] = {"validation", "test"}  # round 2's adapter makes validation worse
    base = keypad_player("local/smollm2", set())
    state = run_to_end(evolution(tmp_path, factory, base, rounds=2))
    folder = tmp_path / "runs" / "evo-lora" / "lora"
    one, two = (folder / "adapters" / f"round-{k}" for k in (1, 2))
    name_one, name_two = (f"local/smollm2+adapter:{p.resolve()}" for p in (one, two))

    # both rounds really trained an adapter of the embedded model; round 2 continued round 1's
    for adapter, start in ((one, None), (two, str(one.resolve()))):
        training = json.loads((adapter / "training.json").read_text())
        assert (adapter / "adapter_model.safetensors").stat().st_size > 10_000
        assert training["start_from"] == start and training["result"]["steps"] == 1
    first, second = (load_file(str(p / "adapter_model.safetensors")) for p in (one, two))
    moved = max(float((second[k] - first[k]).abs().max()) for k in first if "lora_A" in k)
    assert 0 < moved < 0.01  # one small step on from round 1's weights, not a fresh random start
    # round 1 practised on the base model and was evaluated on its adapter; round 2 practised on it
    assert models_of(tmp_path, "evo-lora-lora-train") == Counter({"local/smollm2": 2, name_one: 2})
    assert set(models_of(tmp_path, "evo-lora-lora-val1")) == {name_one}
    assert set(models_of(tmp_path, "evo-lora-lora-val2")) == {name_two}
    assert factory.asked == [name_one, name_two, name_one]  # the rollback loads round 1's adapter again

    cond = state.conditions["lora"]
    assert [p["accepted"] for p in cond.points if p["split"] == "validation"] == [True, True, False]
    distilled = [p["distil_seconds"] for p in cond.points if p["split"] == "test"]
    assert distilled[0] == 0 and 0 < distilled[1] < distilled[2] <= cond.practice_seconds  # included there
    assert cond.adapter == "adapters/round-1" and cond.accepted_marker["adapter"] == "adapters/round-1"
    assert "adapter adapters/round-1 → adapters/round-2" in cond.rejected[0]["what"]
    figures = summary(state)
    rounds = [
        (a["round"], a["practised_with"], a["trained"], a["evaluated_with"], a["kept"])
        for a in figures["adapters"]
    ]
    assert rounds == [
        (1, None, "adapters/round-1", "adapters/round-1", True),
        (2, "adapters/round-1", "adapters/round-2", "adapters/round-2", False),
    ]
    assert all(a["successes"] == 2 and a["examples"] == 2 and a["seconds"] > 0 for a in figures["adapters"])
    assert next(r for r in ablation_rows(state) if r["condition"] == "lora")["adapter"] == [
        "adapters/round-1"
    ]

    # resumed for a third round that solves nothing in practice: it runs on round 1's adapter, trains nothing
    factory.failing["adapters/round-1"] = {"train"}
    resumed = EvolveState.load(tmp_path / "runs" / "evo-lora")
    state = run_to_end(evolution(tmp_path, factory, base, rounds=3, state=resumed))
    assert models_of(tmp_path, "evo-lora-lora-train")[name_one] == 4
    assert set(models_of(tmp_path, "evo-lora-lora-val3")) == {name_one}
    third = state.conditions["lora"].adapters[-1]
    assert (third["trained"], third["successes"], third["evaluated_with"]) == (None, 0, "adapters/round-1")
    assert not (folder / "adapters" / "round-3").exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_relabelled_successes_train_the_rounds_adapter(tmp_path):
    base = keypad_player("local/smollm2", {"train"})  # presses code + 1: every practice episode fails…
    sibling = task("2").model_copy(update={"id": "keypad-2-sibling"})  # …and keypad-1's press fits this one
    state = run_to_end(
        evolution(tmp_path, Adapters(), base, rounds=1, siblings=[sibling], relabel="siblings:1")
    )
    cond = state.conditions["lora"]
    assert cond.relabelled["1"]["relabelled"] == 1
    [entry] = cond.adapters
    assert entry["successes"] == 1 and entry["trained"] == "adapters/round-1" and entry["examples"] == 1
    data = tmp_path / "runs" / "evo-lora" / "lora" / "adapters" / "data"
    card = json.loads((data / "round-1.card.json").read_text())
    [trained_on] = card["trajectory_ids"]["train"]
    assert "keypad-2-sibling~relabelled" in trained_on


def test_a_round_without_a_success_trains_nothing_and_stays_on_the_base_model(tmp_path):
    factory = Adapters()
    base = keypad_player("local/smollm2", {"train", "validation", "test"})
    state = run_to_end(evolution(tmp_path, factory, base, rounds=1))
    cond = state.conditions["lora"]
    assert cond.adapters == [
        {
            "round": 1,
            "practised_with": None,
            "successes": 0,
            "trained": None,
            "note": "no successful training episode",
            "evaluated_with": None,
            "kept": True,
        }
    ]
    assert factory.asked == [] and cond.adapter is None
    assert cond.distil_seconds == 0 and cond.practice_seconds > 0  # practised, distilled nothing
    assert not (tmp_path / "runs" / "evo-lora" / "lora" / "adapters").exists()
    assert set(models_of(tmp_path, "evo-lora-lora-val1")) == {"local/smollm2"}


def test_lora_with_a_remote_model_is_refused_in_one_line_before_anything_runs(tmp_path):
    workspace = tmp_path / "ws"
    result = agentevo(
        "evolve",
        "--suite",
        "humaneval",
        "--model",
        "openai/gpt-4o-mini",
        "--ablate",
        "lora",
        "-w",
        str(workspace),
    )
    assert "--ablate lora trains the embedded model's weights: use --model local/smollm2" in one_line_error(
        result
    )
    assert not workspace.exists() or list(workspace.iterdir()) == []


def test_memory_tools_and_lora_learn_all_three_ways(tmp_path):
    cfg = RunConfig()
    assert parse_conditions("memory+tools+lora") == ["none", "memory+tools+lora"]
    learner = ConditionLearner("memory+tools+lora", tmp_path, cfg, keypad_player("local/smollm2", set()))
    assert (learner.uses_memory, learner.uses_tools, learner.uses_lora) == (True, True, True)
    assert not ConditionLearner("memory+tools", tmp_path, cfg, learner.model).uses_lora
