"""Which training task comes next: a non-stationary bandit over task templates, driven by learning progress.

Each template keeps a fast and a slow moving average of its success; learning progress is the gap between
them (a template whose success is changing is where practice pays, as in Self-Evolving Curriculum). The next
template is drawn by a softmax over progress plus an exploration bonus for templates seldom tried. A failed
template gets a fresh instance to practise on when the suite can make one (WebRL's idea) — never a held-out
one. `sequential` simply walks the training tasks in order.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentevo.records import Task

FreshInstances = Callable[[str, int, int], list[Task]]  # (template_id, n, seed) -> new training tasks


@dataclass
class TemplateStats:
    tries: int = 0
    fast: float = 0.0
    slow: float = 0.0
    last_success: bool = False

    def update(self, success: bool, fast_rate: float, slow_rate: float) -> None:
        x = 1.0 if success else 0.0
        if self.tries == 0:
            self.fast = self.slow = x
        else:
            self.fast += fast_rate * (x - self.fast)
            self.slow += slow_rate * (x - self.slow)
        self.tries += 1
        self.last_success = success

    @property
    def progress(self) -> float:
        return abs(self.fast - self.slow)


@dataclass
class Curriculum:
    tasks: Sequence[Task]
    kind: str = "bandit"
    seed: int = 0
    fresh: FreshInstances | None = None
    temperature: float = 0.1
    explore: float = 0.3
    fast_rate: float = 0.5
    slow_rate: float = 0.1
    stats: dict[str, TemplateStats] = field(default_factory=lambda: defaultdict(TemplateStats))
    history: list[tuple[str, str, bool]] = field(default_factory=list)  # (template, task id, success)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.by_template: dict[str, list[Task]] = defaultdict(list)
        for task in self.tasks:
            self.by_template[task.template_id or task.id].append(task)
        self.cursor = 0
        self.used: dict[str, int] = defaultdict(int)
        self.fresh_made = 0

    def next_task(self) -> Task:
        if self.kind == "sequential":
            task = self.tasks[self.cursor % len(self.tasks)]
            self.cursor += 1
            return task
        template = self.pick_template()
        return self.pick_instance(template)

    def pick_template(self) -> str:
        names = sorted(self.by_template)
        untried = [n for n in names if self.stats[n].tries == 0]
        if untried:
            return self.rng.choice(untried)
        total = sum(self.stats[n].tries for n in names)
        scores = [
            self.stats[n].progress + self.explore * math.sqrt(math.log(total + 1) / self.stats[n].tries)
            for n in names
        ]
        top = max(scores)
        weights = [math.exp((s - top) / self.temperature) for s in scores]
        return self.rng.choices(names, weights=weights)[0]

    def pick_instance(self, template: str) -> Task:
        stats = self.stats[template]
        if self.fresh is not None and stats.tries and not stats.last_success:
            made = self.fresh(template, 1, self.seed * 100_003 + self.fresh_made)
            self.fresh_made += 1
            if made:
                return made[0]
        pool = self.by_template[template]
        task = pool[self.used[template] % len(pool)]
        self.used[template] += 1
        return task

    def record(self, task: Task, success: bool) -> None:
        template = task.template_id or task.id
        self.stats[template].update(success, self.fast_rate, self.slow_rate)
        self.history.append((template, task.id, success))

    def to_state(self) -> dict[str, object]:
        """Everything needed to continue the same curriculum after a restart."""
        return {
            "stats": {k: vars(v) for k, v in self.stats.items()},
            "used": dict(self.used),
            "cursor": self.cursor,
            "fresh_made": self.fresh_made,
            "history": self.history,
            "rng": self.rng.getstate(),
        }

    def restore(self, state: dict[str, object]) -> None:
        if not state:
            return
        for name, values in state["stats"].items():  # type: ignore[attr-defined]
            self.stats[name] = TemplateStats(**values)
        self.used.update(state["used"])  # type: ignore[arg-type]
        self.cursor = int(state["cursor"])  # type: ignore[arg-type]
        self.fresh_made = int(state["fresh_made"])  # type: ignore[arg-type]
        self.history = [tuple(h) for h in state["history"]]  # type: ignore[attr-defined,misc]
        version, internal, gauss = state["rng"]  # type: ignore[misc]
        self.rng.setstate((version, tuple(internal), gauss))

    def state(self) -> dict[str, dict[str, float]]:
        return {
            name: {"tries": s.tries, "success_ema": round(s.fast, 3), "progress": round(s.progress, 3)}
            for name, s in sorted(self.stats.items())
        }
