"""A memory writer that commits forever, started as its own process so a test can SIGKILL it anywhere.

usage: python writer_loop.py STORE_DIR SEED

On start it opens the store as the writer (which probes and repairs the Chroma index), then prints
`ready {json}` describing how the index compares with SQL; then, for every commit that returned, it prints
`ack {json}` with the commit id and what the commit wrote (item id → content, or null for a deletion).
"""

import json
import random
import sys
import uuid
from pathlib import Path

from agentevo.memory.store import Change, ExperienceStore
from agentevo.records import Experience, Scope
from agentevo.testing import HashEmbedder

WORDS = "sort list check empty value set dict loop index page click form field submit file path count".split()


def text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + f" #{rng.getrandbits(32)}"


def index_report(store: ExperienceStore) -> dict:
    index = store.index()
    sql_ids = {e.id for e in store.items()}
    chroma_ids = index.ids()
    probe = next(iter(sorted(sql_ids)), None)
    top = None
    if probe is not None:
        top = index.query(store.table().vector(probe), 1)[0][0]
    return {
        "opened": store.index_opened,
        "sql": len(sql_ids),
        "chroma": len(chroma_ids),
        "same_ids": sql_ids == chroma_ids,
        "same_head": index.head == store.head_id(),
        "probe_ok": probe is None or top == probe,
    }


def main() -> None:
    root, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    store = ExperienceStore(root, embedder=HashEmbedder(32), lock_timeout_s=60)
    print("ready " + json.dumps(index_report(store)), flush=True)
    live = [e.id for e in store.items()]
    while True:
        changes, wrote = [], {}
        for _ in range(rng.choice([1, 1, 2, 3, 5, 40])):
            item = Experience(
                id=uuid.uuid4().hex[:12], kind="insight", title="t", content=text(rng), scope=Scope(suite="s")
            )
            changes.append(Change("add", item.id, item))
            wrote[item.id] = item.content
        if live and rng.random() < 0.3:
            old = store.get(rng.choice(live))
            if old is not None and old.id not in wrote:
                new = old.model_copy(update={"content": text(rng)})
                changes.append(Change("update", old.id, new))
                wrote[old.id] = new.content
        if live and rng.random() < 0.2:
            gone = rng.choice(live)
            if gone not in wrote:
                changes.append(Change("delete", gone, None))
                wrote[gone] = None
        info = store.apply(changes, message="loop")
        live = [i for i in live if wrote.get(i, "") is not None] + [
            i for i, c in wrote.items() if c is not None and i not in live
        ]
        print("ack " + json.dumps({"commit": info.id, "wrote": wrote}), flush=True)


if __name__ == "__main__":
    main()
