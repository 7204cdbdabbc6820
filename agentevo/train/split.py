"""Train/test splits grouped so that nothing leaks: every example of a template (or task) lands on one side.

A group goes to test when the hash of its key falls under the test fraction (`benchmarks.stable_split`), so a
template keeps its side across exports as data grows. The key is salted: a suite's own split hashes the same
ids, and an unsalted export split would nest inside it (data from a suite's train split would never reach
test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from agentevo.benchmarks import stable_split

SplitBy = Literal["template", "task", "none"]
SALT = "export:"
T = TypeVar("T")


@dataclass(frozen=True)
class Split(Generic[T]):
    train: list[T]
    test: list[T]
    train_groups: list[str]
    test_groups: list[str]

    def overlap(self) -> list[str]:
        return sorted(set(self.train_groups) & set(self.test_groups))


def split_groups(items: Sequence[T], key: Callable[[T], str], by: SplitBy, test_fraction: float) -> Split[T]:
    """`key(item)` names the item's group (template or task id); `none` keeps everything in train."""
    train: list[T] = []
    test: list[T] = []
    for item in items:
        side = "train" if by == "none" else stable_split(SALT + key(item), test_fraction)
        (test if side == "test" else train).append(item)
    return Split(
        train=train,
        test=test,
        train_groups=sorted({key(i) for i in train}),
        test_groups=sorted({key(i) for i in test}),
    )


def check_no_overlap(train_groups: Sequence[str], test_groups: Sequence[str]) -> None:
    """Raise when a group is on both sides (a leak); used on files read back, too."""
    both = sorted(set(train_groups) & set(test_groups))
    if both:
        raise ValueError(f"{len(both)} groups are in both train and test, e.g. {both[0]!r}")
