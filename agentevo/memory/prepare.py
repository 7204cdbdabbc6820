"""Readying staged changes for a commit: screening new text, stamping versions, finding each vector.

A vector is reused whenever the item's embedding text did not change (or the change brings its vector, as a
restore or an import does); only new or reworded items are embedded, in one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentevo.memory import trust
from agentevo.memory.changes import Change, embed_text
from agentevo.memory.embedders import embed_unit
from agentevo.memory.tables import MemoryItemRow, unpack
from agentevo.protocols import Embedder
from agentevo.records import Experience, utcnow

if TYPE_CHECKING:
    import numpy as np

SCREENED_OPS = {"add", "update", "merge", "import"}


def prepare(change: Change, before: MemoryItemRow | None) -> Change:
    """Screen new text for injected orders; stamp versions; a restore keeps the item exactly."""
    after = change.after
    if after is None or change.op == "restore":
        return change
    if change.op in SCREENED_OPS:
        after = trust.screen(after)
    update: dict[str, Any] = {"updated_at": utcnow()}
    if before is not None:
        old = Experience.model_validate(before.data)
        content_changed = embed_text(old) != embed_text(after) or old.demonstration != after.demonstration
        update["version"] = old.version + 1 if content_changed else old.version
        update["created_at"] = old.created_at
    return Change(change.op, change.id, after.model_copy(update=update), change.note, change.vector)


def vectors_for(
    changes: Sequence[Change], before: Mapping[str, MemoryItemRow], embedder: Embedder
) -> dict[str, np.ndarray]:
    """A unit vector for every item the changes keep, embedding only those whose text is new."""
    import numpy as np

    vectors: dict[str, np.ndarray] = {}
    to_embed: list[Change] = []
    for c in changes:
        if c.after is None:
            continue
        old = before.get(c.id)
        if c.vector is not None:
            vectors[c.id] = np.asarray(c.vector, dtype=np.float32)
        elif (
            old is not None
            and old.vector
            and embed_text(Experience.model_validate(old.data)) == embed_text(c.after)
        ):
            vectors[c.id] = unpack(old.vector)
        else:
            to_embed.append(c)
    if to_embed:
        mat = embed_unit(embedder, [embed_text(c.after) for c in to_embed])  # type: ignore[arg-type]
        vectors.update({c.id: mat[i] for i, c in enumerate(to_embed)})
    return vectors
