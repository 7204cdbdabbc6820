"""The trajectory store on SQLite and on a real PostgreSQL server."""

import pytest

from agentevo.records import Action, Observation, RunManifest, Step, Task, Trajectory
from agentevo.runs.store import TrajectoryStore, default_url

TASK = Task(id="HumanEval/0", suite="humaneval", kind="code", instruction="solve", template_id="HumanEval/0")


def step(i: int) -> Step:
    return Step(
        index=i, action=Action(name="submit", args={"code": str(i)}), observation=Observation(text="o")
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, workspace):
    if request.param == "sqlite":
        return TrajectoryStore(default_url(workspace))
    return TrajectoryStore(request.getfixturevalue("postgres_url"))


def test_runs_episodes_and_steps_round_trip(store):
    store.create_run(RunManifest(run_id="r1", model="m", suite="humaneval", split="test", task_ids=("a",)))
    store.start_episode("r1:a#0", "r1", TASK, 0, "m")
    for i in range(3):
        store.add_step("r1:a#0", step(i))
    store.add_step("r1:a#0", step(1))  # a resumed episode repeating a step overwrites it
    assert [s.index for s in store.steps("r1:a#0")] == [0, 1, 2]
    traj = Trajectory(
        id="r1:a#0",
        run_id="r1",
        task=TASK,
        steps=tuple(step(i) for i in range(3)),
        outcome="success",
        reward=1.0,
        model="m",
    )
    store.save_trajectory(traj)
    store.save_trajectory(traj)  # idempotent
    assert store.trajectory("r1:a#0") == traj
    assert store.done_keys("r1") == {("HumanEval/0", 0)}
    assert [t.id for t in store.trajectories(run_ids=["r1"], outcome="success")] == ["r1:a#0"]
    store.finish_run("r1", "done", {"episodes": 1})
    assert store.get_run("r1").summary == {"episodes": 1}
    assert store.manifest("r1").task_ids == ("a",)


def test_a_bad_database_url_is_one_clear_error(tmp_path):
    from agentevo.errors import StoreError

    with pytest.raises(StoreError, match="cannot open"):
        TrajectoryStore("postgresql+psycopg2://nobody@127.0.0.1:9/none")
