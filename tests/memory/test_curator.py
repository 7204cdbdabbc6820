"""The curator: merge near-duplicates, update a template's workflow, count usage, forget what never helps."""

from agentevo.memory.curator import Curator
from agentevo.memory.reflect import WorkflowReflector
from tests.memory.builders import insight, step, trajectory

A = "Sort the numbers first, then compare each neighbouring pair."
A_AGAIN = "Sort the numbers first, then compare each neighbouring pair!"


def test_two_near_identical_insights_merge_into_one_that_keeps_both_provenances(store):
    curator = Curator(store)
    first = curator.store.apply(curator.plan([insight(A, id="one", trajectory="run-1:t#0")]))
    assert first.ops[0]["op"] == "add"
    info = store.apply(curator.plan([insight(A_AGAIN, id="two", trajectory="run-2:t#0")]), source_run="run-2")
    [item] = store.items()
    assert item.id == "one" and info.ops[0]["op"] == "merge" and "two" in info.ops[0]["note"]
    assert item.provenance.trajectory_ids == ("run-1:t#0", "run-2:t#0")
    assert item.version == 1  # the words did not change


def test_near_duplicates_within_one_batch_merge_too(store):
    changes = Curator(store).plan(
        [insight(A, id="x", trajectory="r:a#0"), insight(A_AGAIN, id="y", trajectory="r:b#0")]
    )
    store.apply(changes)
    [item] = store.items()
    assert item.provenance.trajectory_ids == ("r:a#0", "r:b#0")


def test_different_insights_are_both_added_and_merging_never_raises_trust(store):
    curator = Curator(store)
    store.apply(curator.plan([insight(A, id="a"), insight("Use a dict to count the words.", id="b")]))
    assert {e.id for e in store.items()} == {"a", "b"}
    store.apply(curator.plan([insight(A_AGAIN, id="c", trust="untrusted")]))
    assert store.get("a").trust == "untrusted"


def test_a_shorter_workflow_for_the_same_template_updates_the_item(store):
    reflector, curator = WorkflowReflector(), Curator(store)
    long = trajectory(
        "Make /tmp/x",
        [step(0, "ls /", "bin tmp"), step(1, "cd /tmp", ""), step(2, "touch /tmp/x", "", done=True)],
    )
    short = trajectory("Make /tmp/y", [step(0, "touch /tmp/y", "", done=True)], run_id="run-2")
    store.apply(curator.plan(reflector.reflect(long)))
    [old] = store.items()
    info = store.apply(curator.plan(reflector.reflect(short)))
    [new] = store.items()
    assert info.ops[0]["op"] == "update" and new.id == old.id and new.version == old.version + 1
    assert "touch {path}" in new.content and "ls /" not in new.content
    assert set(new.provenance.trajectory_ids) == {long.id, short.id}


def test_items_shown_without_helping_decay_and_a_rollback_brings_them_back(store):
    curator = Curator(store, decay_after=4, decay_below=0.2)
    store.apply(curator.plan([insight(A, id="a"), insight("Check for None.", id="b")]))
    kept = store.log()[0].id
    for n in range(4):
        failed = trajectory("t", [step(0, "x", "no", retrieved=("a",))], outcome="failure", run_id=f"r{n}")
        store.apply(curator.usage(failed))
    assert store.get("a") is None and store.log()[0].ops[0]["op"] == "decay"
    ok = trajectory("t", [step(0, "x", "yes", done=True, retrieved=("b",))], outcome="success")
    store.apply(curator.usage(ok))
    assert store.get("b").stats.model_dump() == {"retrieved": 1, "helped": 1, "hurt": 0}
    store.rollback(kept)
    assert store.get("a").stats.retrieved == 0


def test_usage_and_new_experience_of_one_episode_do_not_overwrite_each_other(store):
    curator = Curator(store)
    store.apply(curator.plan([insight(A, id="a", trajectory="r:first#0")]))
    traj = trajectory("t", [step(0, "x", "yes", done=True, retrieved=("a",))], outcome="success", run_id="r2")
    info = curator.curate(traj, [insight(A_AGAIN, id="dup", trajectory=traj.id)])
    item = store.get("a")
    assert item.stats.helped == 1 and traj.id in item.provenance.trajectory_ids
    assert [op["op"] for op in info.ops] == ["usage", "merge"] and info.source_run == "r2"


def test_an_errored_episode_counts_nothing(store):
    curator = Curator(store)
    store.apply(curator.plan([insight(A, id="a")]))
    broken = trajectory("t", [step(0, "x", "", retrieved=("a",))], outcome="error")
    assert curator.usage(broken) == []


def test_a_template_keeps_at_most_max_pitfalls_and_a_new_one_replaces_the_oldest(store):
    curator, reflector = Curator(store, max_pitfalls=2), WorkflowReflector()
    errors = ["KeyError: 'name'", "ZeroDivisionError: division by zero", "TypeError: unhashable type: 'list'"]
    for n, error in enumerate(errors):
        failed = trajectory(
            "Parse the config",
            [step(0, f"python parse_{n}.py", "", error=error)],
            outcome="failure",
            run_id=f"r{n}",
        )
        store.apply(curator.plan(reflector.reflect(failed)))
    pitfalls = store.items(kind="pitfall")
    assert len(pitfalls) == 2
    assert not any("KeyError" in p.content for p in pitfalls)  # the oldest went
    assert any("TypeError" in p.content for p in pitfalls) and store.log()[0].ops[0]["op"] == "update"
