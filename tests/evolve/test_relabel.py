"""Hindsight relabelling (`--relabel siblings:K`): a failed practice trajectory whose actions satisfy a train
sibling of its task — scored 1 by the suite's own evaluator on a replay in a fresh environment — is kept as
that sibling's success and learned from; a replay scored 0 everywhere keeps nothing; held-out instances
are never siblings; `--relabel none` changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.benchmarks import EnvContext, Suite, get_suite
from agentevo.config import LimitsConfig, RunConfig
from agentevo.envs.sandbox.bwrap import available
from agentevo.errors import ConfigError
from agentevo.evolve import results
from agentevo.evolve.loop import Evolution
from agentevo.evolve.relabel import Relabeller, RelabelSpec, Siblings, instance_key, parse_relabel
from agentevo.evolve.state import EvolveOptions, EvolveState, units
from agentevo.models.sampling import AtTemperature
from agentevo.protocols import Recollection
from agentevo.records import Observation, Task, Trajectory
from agentevo.runs.runner import episode_id, seeded
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel, ScriptedModel
from tests.evolve.keypad import KeypadEnvironment, Tally, task
from tests.test_cli import one_line_error
from tests.test_cli import run as agentevo


class Counting:
    """A learner that holds nothing and counts what it is given to learn from."""

    name = "counting"

    def __init__(self) -> None:
        self.learned: list[Trajectory] = []

    def recall(self, task: Task, observation: Observation) -> Recollection:
        return Recollection()

    def learn(self, trajectory: Trajectory) -> None:
        self.learned.append(trajectory)


def keypad_suite(tasks: list[Task], tally: Tally, siblings: list[Task]) -> Suite:
    """The keypad suite, whose `make_instances` offers `siblings` (in order) as fresh train instances."""
    return Suite(
        name="keypad",
        kind="keypad",
        description="type a keypad's code",
        load=lambda: list(tasks),
        make_env=lambda ctx: KeypadEnvironment(tally),
        prompt_set="keypad",
        make_instances=lambda template, n, seed: list(siblings)[:n],
    )


def failed(code: str, pressed: str, store: TrajectoryStore, tally: Tally) -> Trajectory:
    """A stored training episode on keypad `code` that pressed `pressed` and was locked."""
    eid = episode_id("train-run", f"keypad-{code}", 0)
    ep = Episode(
        env=KeypadEnvironment(tally),
        model=ScriptedModel([f"press {pressed}"]),
        limits=LimitsConfig(max_steps=4),
        prompt_set="keypad",
        seed=5,
    )
    traj = run_episode(seeded(task(code), 5, "train-run", eid), ep, episode_id=eid, run_id="train-run")
    assert traj.outcome == "failure"
    return traj


def relabeller(suite: Suite, store: TrajectoryStore, tally: Tally, k: int) -> Relabeller:
    def make(seed):
        return Episode(env=KeypadEnvironment(tally), model=ScriptedModel([]), prompt_set="keypad", seed=seed)

    return Relabeller(RelabelSpec("siblings", k), Siblings(suite), store, make)


@pytest.fixture
def store(workspace: Path) -> TrajectoryStore:
    return TrajectoryStore.for_workspace(workspace)


def test_a_failed_trajectory_that_opens_a_sibling_is_kept_as_its_success_with_the_replays_observations(store):
    tally = Tally()
    siblings = [task("5"), task("1"), task("12")]  # pressing 1 opens keypad 1 only
    suite = keypad_suite([task("73"), task("42", "validation"), task("58", "test")], tally, siblings)
    traj = failed("73", "1", store, tally)
    assert [s.observation.text for s in traj.steps] == ["Wrong digit 1: the keypad is locked."]
    learner, hindsight = Counting(), relabeller(suite, store, tally, k=3)

    kept = hindsight.attempt(traj, learner.learn)

    assert kept is not None and learner.learned == [kept]  # handed to the learners as a success
    assert kept.outcome == "success" and kept.reward == 1.0 and kept.task.id == "keypad-1"
    assert [s.action.raw for s in kept.steps] == ["press 1"]
    assert [s.observation.text for s in kept.steps] == ["Typed: 1"]  # the replay's own observation
    assert kept.details["relabelled_from"] == "keypad-73"
    assert kept.details["relabelled"]["siblings_tried"] == 2
    assert tally.resets["keypad-5"] == 1 and tally.resets["keypad-1"] == 1 and tally.resets["keypad-12"] == 0
    assert hindsight.counts == {"failed": 1, "replays": 2, "env_steps": 2, "relabelled": 1}
    stored = store.trajectory(kept.id)  # in the training run's store like any episode
    assert stored is not None and stored.outcome == "success" and stored.run_id == "train-run"
    assert stored.steps == kept.steps and stored.task.meta["episode_id"] == kept.id


def test_a_replay_that_scores_0_on_every_sibling_keeps_and_teaches_nothing(store):
    tally = Tally()
    suite = keypad_suite([task("73")], tally, [task("5"), task("64"), task("9")])
    traj = failed("73", "1", store, tally)
    learner, hindsight = Counting(), relabeller(suite, store, tally, k=2)

    assert hindsight.attempt(traj, learner.learn) is None

    assert learner.learned == []
    assert [e.id for e in store.episodes("train-run")] == []  # failed() did not store; nor did relabelling
    assert tally.resets["keypad-5"] == 1 and tally.resets["keypad-64"] == 1 and tally.resets["keypad-9"] == 0
    assert hindsight.counts == {"failed": 1, "replays": 2, "env_steps": 2}


def test_held_out_instances_are_never_siblings_even_when_the_suite_offers_them(store):
    tally = Tally()
    held = [task("1", "validation"), task("7", "test")]
    # offered: a validation task itself, a train copy of a test task, a test one, then a true sibling
    offered = [task("1", "validation"), task("7"), task("1").model_copy(update={"split": "test"}), task("17")]
    suite = keypad_suite([task("73"), *held], tally, offered)
    traj = failed("73", "1", store, tally)
    learner, hindsight = Counting(), relabeller(suite, store, tally, k=4)

    assert [t.id for t in Siblings(suite).of(traj, 4)] == ["keypad-17"]
    assert hindsight.attempt(traj, learner.learn) is None  # press 1 opens keypad 1 — held out, not tried
    assert tally.resets["keypad-1"] == 0 and tally.resets["keypad-7"] == 0 and tally.resets["keypad-17"] == 1
    assert learner.learned == []


def test_only_failed_training_trajectories_of_a_template_are_relabelled(store):
    tally = Tally()
    suite = keypad_suite([task("73")], tally, [task("1")])
    traj = failed("73", "1", store, tally)
    hindsight, learner = relabeller(suite, store, tally, k=2), Counting()
    errored = traj.model_copy(update={"outcome": "error"})
    held_out = traj.model_copy(update={"task": traj.task.model_copy(update={"split": "test"})})
    for other in (errored, held_out):
        assert hindsight.attempt(other, learner.learn) is None
    assert learner.learned == [] and tally.resets["keypad-1"] == 0


def test_seeded_suites_take_other_train_seeds_of_the_same_page_as_siblings():
    page = Task(id="click/train", suite="mw", kind="web", instruction="x", template_id="click", split="train")
    suite = Suite(
        name="mw", kind="web", description="", load=lambda: [page], make_env=lambda ctx: None, seeded=True
    )
    traj = Trajectory(id="r:click/train#3", run_id="r", task=seeded(page, 42, "r", "e"), outcome="failure")
    found = Siblings(suite).of(traj, 5)
    assert len(found) == 5 and {t.id for t in found} == {"click/train"}
    seeds = [t.meta["seed"] for t in found]
    assert len(set(seeds)) == 5 and 42 not in seeds and all(0 <= s < 1_000_000 for s in seeds)
    assert Siblings(suite).of(traj, 5) == found  # the same every time: a resumed run relabels alike


@pytest.mark.parametrize("name", ["os", "local-web", "local-web-templates"])
def test_the_template_suites_siblings_are_fresh_train_instances_never_held_out_ones(name):
    suite = get_suite(name)
    held_out = {instance_key(t) for t in suite.tasks("all") if t.split != "train"}
    siblings = Siblings(suite)
    for practised in suite.tasks("train"):
        traj = Trajectory(
            id=f"r:{practised.id}#0", run_id="r", task=seeded(practised, 3, "r", "e"), outcome="failure"
        )
        found = siblings.of(traj, 4)
        assert found, practised.id  # every template has siblings to try
        assert all(t.split == "train" and t.template_id == practised.template_id for t in found)
        assert not {instance_key(t) for t in found} & held_out
        assert all(t.id != practised.id for t in found)


def test_miniwob_pages_are_seeded_suites_and_the_template_suites_are_not():
    assert get_suite("miniwob").seeded and get_suite("miniwob-lite").seeded
    assert not get_suite("os").seeded and not get_suite("local-web").seeded


@pytest.mark.parametrize("text", ["", "siblings", "siblings:0", "siblings:x", "none:2", "beam:3"])
def test_a_bad_relabel_value_is_one_config_error(text):
    with pytest.raises(ConfigError) as info:
        parse_relabel(text)
    assert "--relabel" in str(info.value) and "\n" not in str(info.value)


def test_relabel_values_read_and_print_back_alike():
    assert parse_relabel("none") == RelabelSpec() and str(parse_relabel(" siblings:3 ")) == "siblings:3"


def test_label_free_runs_refuse_relabelling_it_needs_the_suites_evaluator():
    assert parse_relabel("none", "judge") == RelabelSpec()
    with pytest.raises(ConfigError, match="--relabel needs the benchmark's evaluator"):
        parse_relabel("siblings:2", "judge")


def test_the_evolve_command_refuses_relabelling_with_the_judge_in_one_line_and_writes_nothing(workspace):
    result = agentevo(
        "evolve", "--suite", "humaneval", "--label", "judge", "--relabel", "siblings:2", "-w", str(workspace)
    )
    assert "--relabel needs the benchmark's evaluator" in one_line_error(result)
    assert list(workspace.iterdir()) == []


# --- in the evolution loop -------------------------------------------------------------------------------
TASKS = [task("73"), task("42", "validation"), task("58", "test")]


def evolution(
    workspace: Path, tally: Tally, model, siblings: list[Task], learning: str = "memory", **options
) -> Evolution:
    cfg = RunConfig.model_validate(
        {
            "environment": {"suite": "keypad"},
            "limits": {"max_steps": 4},
            "memory": {"options": {"embedder": "hash:64"}},
        }
    )
    opts = EvolveOptions(
        rounds=1, eval_every=2, ablate=["none", learning], curriculum="sequential", **options
    )
    state = EvolveState(
        evolve_id="evo-test",
        suite="keypad",
        model=model.name,
        options=opts,
        config=cfg.model_dump(mode="json"),
        conditions=units(opts.ablate, 1),
    )
    store = TrajectoryStore.for_workspace(workspace)
    return Evolution(cfg, opts, workspace, store, model, keypad_suite(TASKS, tally, siblings), state)


def run(evo: Evolution) -> tuple[EvolveState, list[str]]:
    try:
        state = evo.run()
        learner = next(lrn for name, lrn in evo.learners.items() if name != "none")
        learned = [row["title"] for row in learner.learned()]
    finally:
        evo.close()
    return state, learned


def trajectories(workspace: Path, run_id: str) -> list[Trajectory]:
    return sorted(TrajectoryStore.for_workspace(workspace).trajectories([run_id]), key=lambda t: t.id)


PRESS_1 = FunctionModel(lambda messages, tools: "press 1")


def test_practice_learns_from_a_relabelled_success_that_it_stores_and_counts(workspace):
    tally = Tally()
    state, learned = run(evolution(workspace, tally, PRESS_1, [task("5"), task("1")], relabel="siblings:2"))
    trained = trajectories(workspace, "evo-test-memory-train")
    practised = [t for t in trained if "relabelled" not in t.details]
    relabelled = [t for t in trained if "relabelled" in t.details]
    assert len(practised) == 2 and all(t.outcome == "failure" for t in practised)
    assert len(relabelled) == 2 and all(
        t.outcome == "success" and t.task.id == "keypad-1" for t in relabelled
    )
    assert {t.details["relabelled_from"] for t in relabelled} == {"keypad-73"}
    assert "Workflow for keypad: Open the keypad whose code is 1." in learned  # from the relabelled success
    assert state.conditions["memory"].relabelled == {
        "1": {"failed": 2, "replays": 4, "env_steps": 4, "relabelled": 2}
    }
    assert state.conditions["none"].relabelled == {}  # learns nothing, so practises nothing
    figures = results.summary(state)["relabelled"]
    assert figures["spec"] == "siblings:2" and figures["total"]["relabelled"] == 2
    assert EvolveState.load(workspace / "runs" / "evo-test").options.relabel == "siblings:2"
    evaluations = [
        t
        for name in ("none", "memory")
        for split in ("val", "eval")
        for t in trajectories(workspace, f"evo-test-{name}-{split}1")
    ]
    assert evaluations and not any("relabelled" in t.details for t in evaluations)  # never relabelled


def test_a_sibling_under_the_failed_tasks_own_id_is_stored_beside_the_failure(workspace):
    """Seeded suites (MiniWoB++) give a sibling the failed task's own id with another seed: the kept
    success must not take the failed episode's place (run, task and sample name one episode)."""
    same_id = task("1").model_copy(update={"id": "keypad-73"})  # another instance under the same id
    state, _ = run(evolution(workspace, Tally(), PRESS_1, [same_id], relabel="siblings:1"))
    trained = trajectories(workspace, "evo-test-memory-train")
    assert sorted(t.outcome for t in trained) == ["failure", "failure", "success", "success"]
    assert {t.task.id for t in trained} == {"keypad-73"}
    assert state.conditions["memory"].relabelled["1"]["relabelled"] == 2


def test_relabel_none_trains_exactly_as_before(tmp_path):
    """With `--relabel none` the training trajectories are those today's runner path gives, nothing more is
    stored or stepped, and the summary carries no relabelling figures. (Tools learn nothing from failures,
    so every training episode sees the bare prompt, as a plain `run_episode` does.)"""
    tally = Tally()
    evo = evolution(tmp_path / "evo", tally, PRESS_1, [task("1")], learning="tools", relabel="none")
    state, learned = run(evo)
    assert state.options.relabel == "none" and learned == []
    assert state.conditions["tools"].relabelled == {} and "relabelled" not in results.summary(state)
    run_id = "evo-test-tools-train"
    trained = trajectories(tmp_path / "evo", run_id)
    assert len(trained) == 2 and tally.resets["keypad-1"] == 0
    model = AtTemperature(PRESS_1, 0.7)
    for traj in trained:
        seed = traj.task.meta["seed"]
        eid = episode_id(run_id, traj.task.id, int(traj.id.rsplit("#", 1)[1]))
        ep = Episode(
            env=KeypadEnvironment(Tally()),
            model=model,
            limits=LimitsConfig(max_steps=4),
            prompt_set="keypad",
            seed=seed,
        )
        today = run_episode(seeded(TASKS[0], seed, run_id, eid), ep, episode_id=eid, run_id=run_id)
        assert same(traj, today)
    assert tally.steps == 2 + 8  # 2 training episodes, 8 evaluations, one step each


def same(a: Trajectory, b: Trajectory) -> bool:
    skip = {"created_at": True, "seconds": True, "steps": {"__all__": {"seconds"}}}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


def test_the_manifest_records_the_relabel_option(workspace):
    evo = evolution(workspace, Tally(), PRESS_1, [], relabel="siblings:3")
    from agentevo.cli.evolve import write_manifest

    write_manifest(evo, "agentevo evolve --relabel siblings:3")
    manifest = json.loads((evo.folder / "manifest.json").read_text())
    assert manifest["options"]["relabel"] == "siblings:3"


# --- a real environment: os tasks in bwrap sandboxes ------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not available(), reason="needs bubblewrap")
def test_an_os_answer_wrong_for_its_task_is_verified_on_a_fresh_sandbox_of_a_sibling_it_fits(tmp_path):
    """count-lines asks for a file's line count: an answer that is wrong for the practised instance is
    the right one for a sibling drawn with that many lines — kept only after the sibling's own check
    scored its replay in a fresh sandbox; on siblings it does not fit, nothing is kept."""
    os_suite = get_suite("os")
    practised = next(t for t in os_suite.tasks("train") if t.template_id == "count-lines")
    cfg = RunConfig.model_validate({"environment": {"suite": "os"}, "sandbox": {"backend": "bwrap"}})
    env = os_suite.make_env(
        EnvContext(config=cfg, workspace=tmp_path, run_dir=tmp_path, worker=0, options={})
    )
    store = TrajectoryStore.for_workspace(tmp_path)
    drawn = os_suite.make_instances("count-lines", 3, 7)
    fits = drawn[1]
    answer = fits.meta["params"]["lines"]
    assert answer != practised.meta["params"]["lines"]
    reply = "Think: I count them.\n\nAct: bash\n\n```bash\ncat /work/* | wc -l\n```"
    replies = [reply, f"Think: That is the count.\n\nAct: answer({answer})"]
    eid = episode_id("os-train", practised.id, 0)

    def episode(model, seed=3):
        return Episode(env=env, model=model, limits=LimitsConfig(max_steps=4), prompt_set="os", seed=seed)

    def siblings_suite(offered):
        return Suite(
            name="os",
            kind="os",
            description="",
            load=os_suite.load,
            make_env=os_suite.make_env,
            prompt_set="os",
            make_instances=lambda template, n, seed: offered[:n],
        )

    try:
        traj = run_episode(
            seeded(practised, 3, "os-train", eid),
            episode(ScriptedModel(replies)),
            episode_id=eid,
            run_id="os-train",
        )
        assert traj.outcome == "failure"
        learner = Counting()
        misfit = Relabeller(
            RelabelSpec("siblings", 2),
            Siblings(siblings_suite([drawn[0], drawn[2]])),
            store,
            lambda seed: episode(ScriptedModel([]), seed),
        )
        assert misfit.attempt(traj, learner.learn) is None and learner.learned == []
        assert misfit.counts == {"failed": 1, "replays": 2, "env_steps": 4}  # both replayed, both scored 0
        hindsight = Relabeller(
            RelabelSpec("siblings", 3),
            Siblings(siblings_suite(drawn)),
            store,
            lambda seed: episode(ScriptedModel([]), seed),
        )
        kept = hindsight.attempt(traj, learner.learn)
    finally:
        env.close()
    assert kept is not None and learner.learned == [kept] and kept.task.id == fits.id
    assert kept.outcome == "success" and kept.details["relabelled_from"] == practised.id
    assert kept.steps[0].observation.text.strip() == str(answer)  # counted in the sibling's own sandbox
    assert traj.steps[0].observation.text.strip() != str(answer)
    assert store.trajectory(kept.id).outcome == "success"
    assert hindsight.counts == {"failed": 1, "replays": 2, "env_steps": 4, "relabelled": 1}
