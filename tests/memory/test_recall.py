"""Retrieval in the agent: what memory makes the model see, and how episodes feed back into it."""

import re

import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.config import LimitsConfig
from agentevo.memory.curator import Curator
from agentevo.memory.learner import MemoryLearner
from agentevo.memory.recall import MemoryRecall
from agentevo.memory.reflect import WorkflowReflector
from agentevo.records import Observation, Task, UsageStats
from agentevo.testing import FunctionModel, ScriptedModel
from tests.helpers import code_env
from tests.memory.builders import insight, step, trajectory


def scale_task(n: int) -> Task:
    """An instance of the template `scale`: the same problem with another factor (and function name)."""
    prompt = (
        f"def scale_by_{n}(values):\n"
        f'    """Return every value multiplied by {n}.\n'
        f"    >>> scale_by_{n}([1, 2])\n"
        f"    [{n}, {2 * n}]\n"
        f'    """\n'
    )
    tests = f"def check(candidate):\n    assert candidate([1, 2, 3]) == [{n}, {2 * n}, {3 * n}]\n"
    return Task(
        id=f"scale/{n}",
        suite="scales",
        kind="code",
        instruction=f"Complete this Python function:\n```python\n{prompt.rstrip()}\n```",
        template_id="scale",
        meta={"prompt": prompt, "tests": tests, "entry_point": f"scale_by_{n}"},
    )


def solver(messages, tools):
    n = re.search(r"scale_by_(\d+)", messages[-1]["content"]).group(1)
    return f"```python\ndef scale_by_{n}(values):\n    return [v * {n} for v in values]\n```"


def copier(messages, tools):
    """A model that copies the last demonstrated answer, as small models do."""
    return messages[-2]["content"]


def learner_of(store):
    return MemoryLearner(store, WorkflowReflector(), Curator(store), MemoryRecall(store))


@pytest.fixture
def env():
    e = code_env()
    yield e
    e.close()


def test_retrieval_changes_what_the_agent_is_shown_on_a_second_instance_of_the_same_template(store, env):
    learner = MemoryLearner(store, WorkflowReflector(), Curator(store), MemoryRecall(store))
    first, second = scale_task(12), scale_task(15)

    t1 = run_episode(
        first, Episode(env=env, model=FunctionModel(solver), learners=[learner]), episode_id="r:s12#0"
    )
    learner.learn(t1)
    [workflow] = store.items()
    assert t1.outcome == "success" and workflow.kind == "workflow" and "{name}" in workflow.description

    blind = FunctionModel(copier)
    t_blind = run_episode(second, Episode(env=env, model=blind), episode_id="r0:s15#0")
    assert t_blind.outcome != "success"  # the built-in demonstration alone does not solve it

    model = FunctionModel(copier)
    t2 = run_episode(second, Episode(env=env, model=model, learners=[learner]), episode_id="r:s15#0")
    shown = model.calls[0].messages
    assert len(shown) == len(blind.calls[0].messages) + 2  # one more demonstration pair
    assert shown[-3] == {"role": "user", "content": second.instruction}  # rewritten for this instance
    assert "return [v * 15 for v in values]" in shown[-2]["content"] and "12" not in shown[-2]["content"]
    assert t2.outcome == "success" and t2.steps[0].retrieved == (workflow.id,)

    learner.learn(t2)
    assert store.get(workflow.id).stats.model_dump() == {"retrieved": 1, "helped": 1, "hurt": 0}


def test_recall_keeps_to_k_and_the_token_budget(store):
    store.add(
        [insight(f"When sorting lists, remember case {i}: " + "detail " * 20, id=f"i{i}") for i in range(5)]
    )
    store.commit()
    task = Task(id="t", suite="humaneval", kind="code", instruction="Sort the lists in place")
    got = MemoryRecall(store, k=2, min_similarity=-1).recall(task, Observation(text=""))
    assert len(got.notes) == 2 == len(got.retrieved)
    one_note = len(got.notes[0]) // 4 + 1
    got = MemoryRecall(store, k=5, token_budget=one_note + 5, min_similarity=-1).recall(
        task, Observation(text="")
    )
    assert len(got.notes) == 1
    assert MemoryRecall(store, k=0).recall(task, Observation(text="")).retrieved == []


def test_items_of_the_same_template_and_items_that_helped_rank_first(store):
    store.add(
        [
            insight("Sort the list before comparing items.", id="general"),
            insight("Sort the list before comparing values.", id="same", template="tpl-1"),
            insight("Sort the list before comparing elements.", id="helpful"),
        ]
    )
    store.commit()
    helpful = store.get("helpful").model_copy(update={"stats": UsageStats(retrieved=10, helped=10)})
    store.update(helpful)
    store.commit()
    task = Task(id="t", suite="humaneval", kind="code", instruction="Sort the list", template_id="tpl-1")
    got = MemoryRecall(store, k=3, min_similarity=-1).recall(task, Observation(text=""))
    assert got.retrieved[:2] == ["same", "helpful"]


def test_learning_counts_what_the_shown_items_helped_and_hurt(store):
    store.add([insight("Check the empty input.", id="a")])
    store.commit()

    class Nothing:
        def reflect(self, trajectory, known=()):
            return []

    learner = MemoryLearner(store, Nothing(), Curator(store), MemoryRecall(store))
    learner.learn(trajectory("t", [step(0, "x", "ok", done=True, retrieved=("a",))]))
    learner.learn(trajectory("t", [step(0, "x", "no", retrieved=("a", "tool-x"))], outcome="failure"))
    assert store.get("a").stats.model_dump() == {"retrieved": 2, "helped": 1, "hurt": 1}
    assert len(learner.commits) == 2


def test_scope_keeps_other_suites_out(store):
    store.add(
        [insight("Sort the list first.", id="os", suite="os"), insight("Sort the list first!", id="he")]
    )
    store.commit()
    task = Task(id="t", suite="humaneval", kind="code", instruction="Sort the list first")
    assert MemoryRecall(store, min_similarity=-1).recall(task, Observation(text="")).retrieved == ["he"]


def test_an_empty_memory_offers_nothing_and_the_episode_runs_as_without_it(store, env):
    task = scale_task(21)
    model = ScriptedModel([solver([{"content": task.instruction}], [])])
    ep = Episode(env=env, model=model, learners=[learner_of(store)], limits=LimitsConfig(max_steps=1))
    traj = run_episode(task, ep, episode_id="e")
    assert traj.outcome == "success" and traj.steps[0].retrieved == ()


def test_a_broken_ledger_never_breaks_the_episode(tmp_path, env):
    from agentevo.memory.store import ExperienceStore
    from agentevo.testing import HashEmbedder

    store = ExperienceStore(tmp_path / "m", embedder=HashEmbedder(64), use_index=False)
    store.add([insight("Multiply each value.", id="a", suite="scales")])
    store.commit()
    store.engine.dispose()
    for name in ("memory.db", "memory.db-wal", "memory.db-shm"):  # a disk fault under the open store
        (tmp_path / "m" / name).unlink(missing_ok=True)
    (tmp_path / "m" / "memory.db").write_bytes(b"not a database " * 100)
    task = scale_task(31)
    model = ScriptedModel([solver([{"content": task.instruction}], [])])
    traj = run_episode(task, Episode(env=env, model=model, learners=[learner_of(store)]), episode_id="e")
    assert traj.outcome == "success" and traj.steps[0].retrieved == ()
    store.close()
