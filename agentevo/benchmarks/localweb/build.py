"""From templates to the committed suite files, and fresh instances on demand.

The committed suite takes PER_TEMPLATE instances of every template (chosen with a seed fixed per template):
the first TRAIN_PER_TEMPLATE go to `train`, the next VALIDATION_PER_TEMPLATE to `validation`, the rest to
`test`, so every template is learnable on some instances, gated on another and tested on the others. A
second, template-level split holds whole templates out (for validation and for test).

    python -m agentevo.benchmarks.localweb.build      # rewrite environments/web/tasks/local-web.*.json

writes `local-web.raw.json` (WebArena configs with `__SHOP__`/`__FORUM__` placeholders),
`local-web.references.json` (task id → reference actions) and `local-web.splits.json`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentevo.benchmarks import stable_split
from agentevo.benchmarks.localweb.data import SeedData, seed_data
from agentevo.benchmarks.localweb.templates import PLACEHOLDERS, TEMPLATES, Instance, Template
from agentevo.envs.sites import assets_dir

SUITE = "local-web"
PER_TEMPLATE = 4
TRAIN_PER_TEMPLATE = 1
VALIDATION_PER_TEMPLATE = 1
TEMPLATE_TEST_FRACTION = 0.3
TEMPLATE_VALIDATION_FRACTION = 0.2
FRESH_ID_BASE = 1_000_000  # fresh instances: FRESH_ID_BASE + template id * 1000 + candidate index
FILES = ("raw", "references", "splits")


@dataclass(frozen=True)
class Built:
    configs: list[dict[str, Any]]
    references: dict[str, list[dict[str, Any]]]
    splits: dict[str, Any]

    def files(self) -> dict[str, Any]:
        return {"raw": self.configs, "references": self.references, "splits": self.splits}


def tasks_dir() -> Path:
    return assets_dir() / "tasks"


def config(task_id: int, tpl: Template, inst: Instance) -> dict[str, Any]:
    """One task in WebArena's config schema (benchmarks.md §1.2)."""
    return {
        "sites": [tpl.site],
        "task_id": task_id,
        "require_login": True,
        "storage_state": f"./.auth/{tpl.site}_state.json",
        "start_url": PLACEHOLDERS[tpl.site] + inst.start.rstrip("/"),
        "geolocation": None,
        "intent_template": tpl.intent,
        "instantiation_dict": dict(inst.values),
        "intent": tpl.render(inst.values),
        "require_reset": tpl.mutates,
        "eval": inst.eval,
        "intent_template_id": tpl.id,
    }


def candidates(tpl: Template, data: SeedData) -> list[Instance]:
    return list(tpl.candidates(data))


def committed_indices(tpl: Template, data: SeedData) -> list[int]:
    """The candidate indices the committed suite uses, train ones first."""
    pool = candidates(tpl, data)
    if len(pool) < PER_TEMPLATE:
        raise ValueError(f"template {tpl.id} has {len(pool)} candidates; the suite needs {PER_TEMPLATE}")
    return random.Random(f"{SUITE}/{tpl.id}").sample(range(len(pool)), PER_TEMPLATE)


def template_split(tid: int) -> str:
    return stable_split(f"{SUITE}/template/{tid}", TEMPLATE_TEST_FRACTION, TEMPLATE_VALIDATION_FRACTION)


def instance_split(rank: int) -> str:
    if rank < TRAIN_PER_TEMPLATE:
        return "train"
    return "validation" if rank < TRAIN_PER_TEMPLATE + VALIDATION_PER_TEMPLATE else "test"


def build(data: SeedData | None = None) -> Built:
    data = data or seed_data()
    configs, references = [], {}
    sides = ("train", "validation", "test")
    splits: dict[str, Any] = {side: [] for side in sides} | {"templates": {side: [] for side in sides}}
    for tpl in sorted(TEMPLATES.values(), key=lambda t: t.id):
        pool = candidates(tpl, data)
        for rank, index in enumerate(committed_indices(tpl, data)):
            task_id = len(configs)
            configs.append(config(task_id, tpl, pool[index]))
            references[str(task_id)] = pool[index].reference
            splits[instance_split(rank)].append(task_id)
        splits["templates"][template_split(tpl.id)].append(tpl.id)
    return Built(configs, references, splits)


def fresh(
    template_id: int, n: int, seed: int, data: SeedData | None = None
) -> list[tuple[dict[str, Any], list]]:
    """Up to n new instances of a template as (config, reference): drawn with `seed` from the candidates the
    committed suite does not use, so never a held-out test instance (nor a committed train one)."""
    data = data or seed_data()
    tpl = TEMPLATES[template_id]
    pool = candidates(tpl, data)
    used = set(committed_indices(tpl, data))
    free = [i for i in range(len(pool)) if i not in used]
    chosen = random.Random(seed).sample(free, min(n, len(free)))
    return [(config(FRESH_ID_BASE + template_id * 1000 + i, tpl, pool[i]), pool[i].reference) for i in chosen]


def write(built: Built, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in built.files().items():
        path = folder / f"{SUITE}.{name}.json"
        path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    for path in write(build(), tasks_dir()):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
