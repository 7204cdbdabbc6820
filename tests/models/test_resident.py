"""Which loaded models an engine keeps: the few most recently used, never one freed under a call."""

import threading

from agentevo.models.engines.resident import Resident


class Model:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.freed = False


def resident(limit: int) -> tuple[Resident[Model], list[str]]:
    freed: list[str] = []

    def free(model: Model) -> None:
        model.freed = True
        freed.append(model.name)

    return Resident(free=free, limit=limit), freed


def test_loading_past_the_limit_frees_the_least_recently_used_model():
    models, freed = resident(limit=2)
    a = models.get("a", lambda: Model("a"))
    models.get("b", lambda: Model("b"))
    assert models.get("a", lambda: Model("a2")) is a  # a hit loads nothing and makes "a" the most recent
    models.get("c", lambda: Model("c"))
    assert freed == ["b"] and sorted(models.models) == ["a", "c"] and not a.freed


def test_a_model_in_a_call_is_not_freed_until_the_call_ends():
    models, freed = resident(limit=1)
    with models.use("a", lambda: Model("a")) as a:
        models.get("b", lambda: Model("b"))  # over the limit while "a" is busy
        assert freed == [] and not a.freed and len(models) == 2
    models.get("c", lambda: Model("c"))
    assert freed == ["a", "b"] and list(models.models) == ["c"]


def test_use_reloads_a_model_freed_between_its_lookup_and_its_lock():
    models, _ = resident(limit=1)
    stale = models.get("a", lambda: Model("a"))
    models.get("b", lambda: Model("b"))  # frees "a"
    lookups = iter([stale])
    real_get = models.get
    models.get = lambda key, load: next(lookups, None) or real_get(key, load)  # type: ignore[method-assign]
    with models.use("a", lambda: Model("a again")) as model:
        assert model is not stale and model.name == "a again" and not model.freed


def test_clear_frees_every_model():
    models, freed = resident(limit=3)
    for name in "ab":
        models.get(name, lambda name=name: Model(name))
    models.clear()
    assert sorted(freed) == ["a", "b"] and len(models) == 0
