"""The curator: decides what new experience does to the store — ADD, UPDATE, MERGE — and what usage does
to old experience — count it, and DECAY (forget) what keeps being shown without helping.

    MERGE   a candidate whose vector is within `merge_threshold` (cosine) of a live item of the same kind
            and suite — or of an earlier candidate of the same batch — folds into it: one item remains,
            carrying the provenance (trajectory ids, sources) of both and the lower trust of the two
    UPDATE  a workflow for a template that already has one replaces its steps when it is no longer (fewer
            or as many steps), keeping the item's id, stats and provenance; a template holds at most
            `max_pitfalls` pitfalls, and a new one then replaces the oldest
    ADD     anything else
    DECAY   after an episode, each item it was shown counts retrieved += 1 and helped (success) or hurt
            (failure, limit) += 1; an item retrieved `decay_after` times or more whose usefulness
            (helped + 1) / (retrieved + 2) has fallen below `decay_below` is forgotten (deleted; the
            history keeps it, so a rollback brings it back)

Published memories that only ever ADD grow stale and hurt (ACE: validation 93% → 53% as its playbook
grew, ace-agent/ace#26); every change here is a commit that can be inspected and rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agentevo.memory.embedders import embed_unit
from agentevo.memory.store import Change, CommitInfo, ExperienceStore, embed_text
from agentevo.records import Experience, Provenance, Trajectory, UsageStats

TRUST_ORDER = {"quarantined": 0, "untrusted": 1, "trusted": 2}


def usefulness(stats: UsageStats) -> float:
    return (stats.helped + 1) / (stats.retrieved + 2)


def lower_trust(a: str, b: str) -> str:
    return a if TRUST_ORDER[a] <= TRUST_ORDER[b] else b


def merged_provenance(a: Provenance, b: Provenance) -> Provenance:
    ids = tuple(dict.fromkeys((*a.trajectory_ids, *b.trajectory_ids)))
    sources = "+".join(dict.fromkeys(s for p in (a, b) for s in p.source.split("+") if s))
    return a.model_copy(update={"trajectory_ids": ids, "source": sources, "run_id": a.run_id or b.run_id})


def merge(into: Experience, other: Experience) -> Experience:
    """`into` keeps its id, words and stats; it gains `other`'s provenance and, if lower, its trust."""
    return into.model_copy(
        update={
            "provenance": merged_provenance(into.provenance, other.provenance),
            "trust": lower_trust(into.trust, other.trust),
            "description": into.description or other.description,
            "demonstration": into.demonstration or other.demonstration,
        }
    )


def steps_of(exp: Experience) -> int:
    return sum(1 for m in exp.demonstration if m.get("role") == "assistant") or exp.content.count("\n")


def replace_content(old: Experience, new: Experience) -> Experience:
    """The newer item's words (and demonstration) under the old item's identity and stats, with both
    provenances; a quarantined item stays quarantined (the store screens the new words anyway)."""
    return old.model_copy(
        update={
            "title": new.title,
            "description": new.description,
            "content": new.content,
            "demonstration": new.demonstration,
            "provenance": merged_provenance(new.provenance, old.provenance),
            "trust": lower_trust(old.trust, new.trust) if old.trust == "quarantined" else new.trust,
            "env_fingerprint": new.env_fingerprint or old.env_fingerprint,
        }
    )


Pending = dict[str, tuple[Experience, np.ndarray]]  # what this batch has made of each item so far


@dataclass
class Curator:
    store: ExperienceStore
    merge_threshold: float = 0.9
    decay_after: int = 5
    decay_below: float = 0.2
    max_pitfalls: int = 3  # per template: a new one then replaces the oldest

    def __post_init__(self) -> None:
        self._overlay: dict[str, Experience | None] = {}

    # --- new experience -----------------------------------------------------------------------------
    def plan(self, candidates: Sequence[Experience], *, earlier: Sequence[Change] = ()) -> list[Change]:
        """The changes that fold a batch of new items into the store (after `earlier` changes of the
        same commit, such as usage counts, so that no change overwrites another)."""
        if not candidates:
            return []
        vectors = embed_unit(self.store.embedder, [embed_text(c) for c in candidates])
        self._overlay = {c.id: c.after for c in earlier}
        changes: list[Change] = []
        pending: Pending = {}
        for cand, vec in zip(candidates, vectors, strict=True):
            change = self._fold(cand, vec, pending)
            changes.append(change)
            assert change.after is not None
            pending[change.id] = (
                change.after,
                vec if change.op == "add" else self._vector(change.id, pending, vec),
            )
        return changes

    def _fold(self, cand: Experience, vec: np.ndarray, pending: Pending) -> Change:
        """MERGE into a near-duplicate; else UPDATE the template's workflow (or its oldest pitfall, when
        the template has `max_pitfalls` already); else ADD."""
        dup = self._near_duplicate(cand, vec, pending)
        if dup is not None:
            existing, sim = dup
            return Change(
                "merge", existing.id, merge(existing, cand), note=f"merged {cand.id} (cosine {sim:.3f})"
            )
        same = self._same_template(cand, pending)
        if cand.kind == "workflow" and same:
            old = same[0]
            if steps_of(cand) <= steps_of(old):
                return Change(
                    "update", old.id, replace_content(old, cand), note=f"newer workflow from {cand.id}"
                )
            return Change("merge", old.id, merge(old, cand), note=f"longer workflow {cand.id} not kept")
        if cand.kind == "pitfall" and len(same) >= self.max_pitfalls:
            old = same[0]
            return Change(
                "update", old.id, replace_content(old, cand), note=f"oldest pitfall replaced by {cand.id}"
            )
        return Change("add", cand.id, cand)

    def _vector(self, item_id: str, pending: Pending, default: np.ndarray) -> np.ndarray:
        if item_id in pending:
            return pending[item_id][1]
        return self.store.vectors([item_id]).get(item_id, default)

    def _current(self, exp: Experience) -> Experience | None:
        """An item as this commit has it so far (None once an earlier change of it deletes it)."""
        return self._overlay.get(exp.id, exp)

    def _near_duplicate(
        self, cand: Experience, vec: np.ndarray, pending: Pending
    ) -> tuple[Experience, float] | None:
        best: tuple[Experience, float] | None = None
        for exp, other in pending.values():
            sim = float(other @ vec)
            if (
                exp.kind == cand.kind
                and exp.scope.suite == cand.scope.suite
                and (best is None or sim > best[1])
            ):
                best = (exp, sim)
        hits = self.store.search_vector(
            vec, scope={"suite": cand.scope.suite}, k=3, filter={"kind": cand.kind}, include_quarantined=True
        )
        for exp, sim in hits:
            current = self._current(exp)
            if current is not None and exp.id not in pending and (best is None or sim > best[1]):
                best = (current, sim)
        return best if best is not None and best[1] >= self.merge_threshold else None

    def _same_template(self, cand: Experience, pending: Pending) -> list[Experience]:
        """Live items of the candidate's kind, suite and template as this batch has them, oldest first."""
        if not cand.scope.template:
            return []
        key = (cand.kind, cand.scope.suite, cand.scope.template)
        found: dict[str, Experience] = {}
        for exp in self.store.items(kind=cand.kind, suite=cand.scope.suite, template=cand.scope.template):
            current = self._current(exp)
            if current is not None:
                found[exp.id] = current
        for exp, _ in pending.values():
            if (exp.kind, exp.scope.suite, exp.scope.template) == key:
                found[exp.id] = exp
        return sorted(found.values(), key=lambda e: (e.updated_at, e.id))

    # --- usage and decay ----------------------------------------------------------------------------
    def usage(self, trajectory: Trajectory) -> list[Change]:
        """Count what the episode was shown, and forget what keeps being shown without helping."""
        shown = list(dict.fromkeys(i for s in trajectory.steps for i in s.retrieved))
        if not shown or trajectory.outcome == "error":
            return []
        helped = trajectory.succeeded
        changes: list[Change] = []
        for exp in self.store.get_many(shown).values():
            st = exp.stats
            stats = UsageStats(
                retrieved=st.retrieved + 1, helped=st.helped + helped, hurt=st.hurt + (not helped)
            )
            if stats.retrieved >= self.decay_after and usefulness(stats) < self.decay_below:
                note = f"retrieved {stats.retrieved}, helped {stats.helped}, hurt {stats.hurt}"
                changes.append(Change("decay", exp.id, None, note=note))
            else:
                changes.append(Change("usage", exp.id, exp.model_copy(update={"stats": stats})))
        return changes

    # --- one step of the loop -----------------------------------------------------------------------
    def curate(
        self, trajectory: Trajectory, candidates: Sequence[Experience], *, source: str = "curator"
    ) -> CommitInfo | None:
        """Usage of what the episode was shown, then its new experience: one commit (None if no change)."""
        used = self.usage(trajectory)
        changes = used + self.plan(candidates, earlier=used)
        outcome = f"{trajectory.outcome}, {len(candidates)} new item(s)"
        return self.store.apply(
            changes,
            message=f"episode {trajectory.id} ({outcome})",
            source=source,
            source_run=trajectory.run_id,
        )
