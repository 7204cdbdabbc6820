"""Search while practising (`--explore`): training episodes branch by resetting and replaying, keep what
reached the goal as an ordinary trajectory, stay within their budget; evaluations never search, and
`--explore none` changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.agent.prompts import demonstrations
from agentevo.benchmarks import EnvContext, get_suite
from agentevo.benchmarks.os import reference_answer, reference_replies
from agentevo.config import LimitsConfig, RunConfig
from agentevo.envs.sandbox import open_sandbox
from agentevo.envs.sandbox.bwrap import available
from agentevo.errors import ConfigError
from agentevo.evolve.explore import Explorer, ExploreSpec, parse_explore
from agentevo.evolve.loop import Evolution
from agentevo.evolve.state import EvolveOptions, EvolveState, units
from agentevo.models.sampling import AtTemperature
from agentevo.runs.runner import episode_id, seeded
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel
from tests.evolve.keypad import KeypadEnvironment, Tally, sampler, suite, task
from tests.test_cli import one_line_error
from tests.test_cli import run as agentevo

CANDIDATES = ["press 1", "press 7", "press 3"]  # the first sample locks the keypad of code 73


def episode(tally: Tally, model, max_steps: int = 6) -> Episode:
    return Episode(
        env=KeypadEnvironment(tally),
        model=model,
        limits=LimitsConfig(max_steps=max_steps),
        prompt_set="keypad",
        seed=11,
    )


def actions(traj) -> list[str]:
    return [s.action.raw for s in traj.steps]


def search(spec: str, code: str = "73", judge=None):
    tally = Tally()
    explorer = Explorer(parse_explore(spec), judge=judge)
    traj = explorer.episode(task(code), episode(tally, sampler(CANDIDATES)), episode_id="e", run_id="r")
    return traj, tally


def test_unsearched_the_first_sampled_action_locks_the_keypad():
    traj = run_episode(task("73"), episode(Tally(), sampler(CANDIDATES)), episode_id="e")
    assert traj.outcome == "failure" and actions(traj) == ["press 1"]


@pytest.mark.parametrize("spec", ["beam:3", "tree:40"])
def test_search_keeps_the_success_only_second_ranked_samples_reach_as_an_ordinary_trajectory(spec):
    traj, tally = search(spec)
    assert traj.outcome == "success" and traj.reward == 1.0
    assert actions(traj) == ["press 7", "press 3"]  # exactly the actions that opened it, nothing tried
    assert [s.observation.text for s in traj.steps] == ["Typed: 7", "Typed: 73"]  # the replay's own
    assert [s.index for s in traj.steps] == [0, 1]
    assert [m["content"] for m in traj.messages if m["role"] == "assistant"][-2:] == actions(traj)
    explored = traj.details["explored"]
    assert explored["mode"] == spec and explored["found"] and explored["candidates"] == 6
    assert tally.steps == explored["env_steps"] + len(traj.steps)  # the search, then one clean replay


@pytest.mark.parametrize("budget", range(1, 11))
def test_a_tree_search_never_takes_more_environment_steps_than_its_budget(budget):
    traj, tally = search(f"tree:{budget}")
    explored = traj.details["explored"]
    assert explored["env_steps"] <= budget
    assert tally.steps == explored["env_steps"] + len(traj.steps)
    # 3 steps try the first candidates, 6 more reach and try the second digit's: 9 are enough, 8 are not
    assert explored["found"] == (budget >= 9)
    assert traj.outcome == "success" or not explored["found"]


def test_a_failed_search_is_the_best_branch_found_played_on_as_a_normal_episode():
    traj, _ = search("tree:4")  # the first digit's candidates cost 3 steps; the next branch would cost 2
    assert not traj.details["explored"]["found"] and traj.outcome == "failure"
    assert actions(traj) == ["press 7", "press 7"]  # the open branch beat the two that locked the keypad,
    # then went on unsearched with the model's next sample there


def test_label_free_search_follows_the_judges_verdict_not_the_reward():
    said_three = lambda traj: traj.steps[-1].action.raw == "press 3"  # noqa: E731
    traj, _ = search("beam:3", judge=said_three)
    assert actions(traj) == ["press 3"] and traj.details["explored"]["found"]
    assert traj.outcome == "failure"  # the environment disagrees; the loop's judge labels it again


@pytest.mark.parametrize("text", ["", "beam", "beam:0", "tree:-2", "tree:x", "none:3", "greedy", "beam:2:1"])
def test_a_bad_explore_value_is_one_config_error(text):
    with pytest.raises(ConfigError) as info:
        parse_explore(text)
    assert "--explore" in str(info.value) and "\n" not in str(info.value)


def test_explore_values_read_and_print_back_alike():
    assert parse_explore("none") == ExploreSpec() and str(parse_explore(" tree:25 ")) == "tree:25"
    assert parse_explore("beam:4") == ExploreSpec("beam", 4) and parse_explore("beam:4").width == 4


# --- in the evolution loop -------------------------------------------------------------------------------
TASKS = [task("73", "train"), task("42", "validation"), task("58", "test")]


def evolution(workspace: Path, tally: Tally, model, learning: str = "memory", **options) -> Evolution:
    cfg = RunConfig.model_validate(
        {
            "environment": {"suite": "keypad"},
            "limits": {"max_steps": 4},
            "memory": {"options": {"embedder": "hash:64"}},
        }
    )
    opts = EvolveOptions(rounds=1, eval_every=2, ablate=["none", learning], **options)
    state = EvolveState(
        evolve_id="evo-test",
        suite="keypad",
        model=model.name,
        options=opts,
        config=cfg.model_dump(mode="json"),
        conditions=units(opts.ablate, 1),
    )
    store = TrajectoryStore.for_workspace(workspace)
    return Evolution(cfg, opts, workspace, store, model, suite(TASKS, tally), state)


def run(evo: Evolution) -> tuple[EvolveState, list[str]]:
    try:
        state = evo.run()
        learner = next(lrn for name, lrn in evo.learners.items() if name != "none")
        learned = [row["title"] for row in learner.learned()]
    finally:
        evo.close()
    return state, learned


def trajectories(workspace: Path, run_id: str) -> list:
    store = TrajectoryStore.for_workspace(workspace)
    return sorted(store.trajectories([run_id]), key=lambda t: t.id)


def test_training_learns_from_searched_successes_and_evaluations_never_search(workspace):
    tally = Tally()
    state, learned = run(evolution(workspace, tally, sampler(CANDIDATES), explore="beam:3"))
    trained = trajectories(workspace, "evo-test-memory-train")
    assert len(trained) == 2 and all(t.details["explored"]["mode"] == "beam:3" for t in trained)
    assert trained[0].outcome == "success" and actions(trained[0]) == ["press 7", "press 3"]
    assert learned  # memory learned a workflow from the searched success
    assert state.conditions["memory"].curriculum["history"][0] == ("keypad", "keypad-73", True)
    evaluations = [
        t
        for name in ("none", "memory")
        for split in ("val", "eval")
        for round_ in (0, 1)
        for t in trajectories(workspace, f"evo-test-{name}-{split}{round_}")
    ]
    assert len(evaluations) == 8
    assert not any("explored" in t.details for t in evaluations)
    assert all(len(t.steps) == 1 for t in evaluations)  # one greedy attempt: the first sample locks it
    assert tally.resets["keypad-42"] == 4 and tally.resets["keypad-58"] == 4  # one reset per evaluation
    assert tally.resets["keypad-73"] > 2  # training did branch
    assert EvolveState.load(workspace / "runs" / "evo-test").options.explore == "beam:3"  # recorded


def test_explore_none_trains_exactly_as_an_unsearched_runner_does(tmp_path):
    """With `--explore none` the training trajectories are those today's runner path (run_episode at the
    training temperature, same task, seed and episode id) gives: nothing sampled or stepped beyond them."""
    tally = Tally()
    model = sampler(CANDIDATES)
    state, learned = run(evolution(tmp_path / "evo", tally, model, learning="tools", explore="none"))
    assert state.options.explore == "none" and learned == []  # no success, no tool: the prompts stay bare
    run_id = "evo-test-tools-train"
    trained = trajectories(tmp_path / "evo", run_id)
    model = AtTemperature(sampler(CANDIDATES), 0.7)
    for traj in sorted(trained, key=lambda t: t.task.meta["seed"]):
        seed = traj.task.meta["seed"]
        eid = episode_id(run_id, traj.task.id, int(traj.id.rsplit("#", 1)[1]))
        ep = episode(Tally(), model, max_steps=4)
        ep.seed = seed
        today = run_episode(seeded(TASKS[0], seed, run_id, eid), ep, episode_id=eid, run_id=run_id)
        assert same(traj, today)
    assert len(trained) == 2 and not any("explored" in t.details for t in trained)
    assert tally.resets["keypad-73"] == 2 and tally.steps == 3 + 8  # 2 training episodes, 8 evaluations


def same(a, b) -> bool:
    """Equal but for wall-clock times."""
    skip = {"created_at": True, "seconds": True, "steps": {"__all__": {"seconds"}}}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


def test_the_evolve_command_refuses_a_bad_explore_value_in_one_line_and_writes_nothing(workspace):
    result = agentevo("evolve", "--suite", "humaneval", "--explore", "beam:0", "-w", str(workspace))
    assert "--explore must be none, beam:K or tree:BUDGET" in one_line_error(result)
    assert list(workspace.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(not available(), reason="needs bubblewrap")
def test_search_in_a_real_sandbox_branches_from_fresh_sandboxes_and_keeps_the_solving_commands(tmp_path):
    """An os task in bwrap: every branch starts from a fresh sandbox and the prefix's commands run again; a
    model whose first sample at every step gives up solves it only through its second samples."""
    os_suite = get_suite("os")
    task_ = next(t for t in os_suite.tasks("all") if t.template_id == "count-lines")
    sandbox = open_sandbox("bwrap")
    try:
        replies = reference_replies(task_, reference_answer(task_, sandbox))
    finally:
        sandbox.close()
    give_up = "Think: I cannot tell.\n\nAct: finish"
    turns: dict[str, int] = {}

    def reply(messages, tools):  # even samples of a prompt give up, odd ones take the reference's next step
        key = repr(messages)
        n = turns[key] = turns.get(key, -1) + 1
        step = sum(m["role"] == "assistant" for m in messages) - len(demonstrations("os"))
        return give_up if n % 2 == 0 else replies[min(step, len(replies) - 1)]

    cfg = RunConfig.model_validate({"environment": {"suite": "os"}, "sandbox": {"backend": "bwrap"}})
    env = os_suite.make_env(
        EnvContext(config=cfg, workspace=tmp_path, run_dir=tmp_path, worker=0, options={})
    )
    ep = Episode(env=env, model=FunctionModel(reply), limits=LimitsConfig(max_steps=4), prompt_set="os")
    try:
        assert run_episode(task_, ep, episode_id="plain").outcome == "failure"
        traj = Explorer(parse_explore("beam:2")).episode(task_, ep, episode_id="searched")
    finally:
        env.close()
    assert traj.outcome == "success" and traj.details["explored"]["found"]
    assert [s.model_reply for s in traj.steps] == replies
