from collections import Counter

from agentevo.evolve.curriculum import Curriculum
from agentevo.records import Task


def tasks(templates: int, per: int) -> list[Task]:
    return [
        Task(
            id=f"t{t}-{i}",
            suite="s",
            kind="code",
            instruction=f"do {t} {i}",
            template_id=f"T{t}",
            split="train",
        )
        for t in range(templates)
        for i in range(per)
    ]


def test_sequential_walks_the_tasks_in_order():
    pool = tasks(2, 2)
    cur = Curriculum(pool, kind="sequential")
    assert [cur.next_task().id for _ in range(5)] == ["t0-0", "t0-1", "t1-0", "t1-1", "t0-0"]


def test_bandit_tries_every_template_before_repeating_one():
    cur = Curriculum(tasks(4, 3), seed=1)
    first = set()
    for _ in range(4):
        task = cur.next_task()
        first.add(task.template_id)
        cur.record(task, True)
    assert first == {"T0", "T1", "T2", "T3"}


def test_bandit_favours_templates_whose_success_is_still_changing():
    cur = Curriculum(tasks(4, 3), seed=1)
    # T0 is mastered, T1 never works, T2 is being learned (fails, then succeeds), T3 mastered.
    outcomes = {
        "T0": [True] * 6,
        "T1": [False] * 6,
        "T2": [False, False, True, True, True, True],
        "T3": [True] * 6,
    }
    for template, results in outcomes.items():
        task = next(t for t in cur.tasks if t.template_id == template)
        for ok in results:
            cur.record(task, ok)
    picks = Counter(cur.pick_template() for _ in range(400))
    assert picks.most_common(1)[0][0] == "T2"
    assert cur.state()["T2"]["progress"] > cur.state()["T0"]["progress"]


def test_failed_templates_get_fresh_instances_from_the_suite():
    made = []

    def fresh(template, n, seed):
        task = Task(
            id=f"{template}-fresh-{seed}",
            suite="s",
            kind="code",
            instruction="new",
            template_id=template,
            split="train",
        )
        made.append(task)
        return [task]

    cur = Curriculum(tasks(1, 2), seed=3, fresh=fresh)
    first = cur.next_task()
    assert not made  # nothing failed yet
    cur.record(first, False)
    again = cur.next_task()
    assert again in made and again.template_id == first.template_id


def test_the_same_seed_gives_the_same_curriculum():
    def run(seed):
        cur = Curriculum(tasks(3, 3), seed=seed)
        out = []
        for i in range(12):
            task = cur.next_task()
            cur.record(task, i % 3 == 0)
            out.append(task.id)
        return out

    assert run(5) == run(5)


def test_a_restored_curriculum_continues_exactly_where_it_stopped():
    import json

    first = Curriculum(tasks(3, 3), seed=9)
    for i in range(5):
        first.record(first.next_task(), i % 2 == 0)
    saved = json.loads(json.dumps(first.to_state()))
    second = Curriculum(tasks(3, 3), seed=9)
    second.restore(saved)
    assert [first.next_task().id for _ in range(6)] == [second.next_task().id for _ in range(6)]
