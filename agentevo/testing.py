"""Fakes at the model boundary, shipped for users' tests and ours.

ScriptedModel(["reply 1", ModelError("rate limited"), "reply 3"])   replies in order, records .calls
FunctionModel(lambda messages, tools: "reply")                      replies computed from the input
HashEmbedder(dim=64)                                                deterministic n-gram vectors (re-exported)
forbid_remote_models                                                pytest fixture: remote calls raise
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentevo.models.embedding import HashEmbedder
from agentevo.records import Message, ModelReply, ToolSpec


class UnexpectedModelCall(AssertionError):
    """A ScriptedModel was called after its script ran out."""


@dataclass
class Call:
    messages: list[Message]
    tools: list[ToolSpec]
    stop: list[str]


def to_reply(item: str | ModelReply, name: str) -> ModelReply:
    if isinstance(item, ModelReply):
        return item
    return ModelReply(text=item, model=name, tokens_in=0, tokens_out=max(1, len(item) // 4))


@dataclass
class ScriptedModel:
    """Replies with the given items in order; an Exception item is raised instead of replied."""

    replies: list[str | ModelReply | BaseException]
    name: str = "scripted"
    calls: list[Call] = field(default_factory=list)
    supports_tools: bool = False  # True: offered tools come as native function specs (`tools=`)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ModelReply:
        self.calls.append(Call(list(messages), list(tools), list(stop)))
        if len(self.calls) > len(self.replies):
            raise UnexpectedModelCall(
                f"{self.name}: call {len(self.calls)} but only {len(self.replies)} scripted"
            )
        item = self.replies[len(self.calls) - 1]
        if isinstance(item, BaseException):
            raise item
        return to_reply(item, self.name)

    def assert_complete(self) -> None:
        assert len(self.calls) == len(self.replies), f"{len(self.calls)} of {len(self.replies)} replies used"


@dataclass
class FunctionModel:
    """Replies with fn(messages, tools); for replies that depend on what the model is shown."""

    fn: Callable[[list[Message], list[ToolSpec]], str | ModelReply]
    name: str = "function"
    calls: list[Call] = field(default_factory=list)
    supports_tools: bool = False  # True: offered tools come as native function specs (`tools=`)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ModelReply:
        self.calls.append(Call(list(messages), list(tools), list(stop)))
        return to_reply(self.fn(list(messages), list(tools)), self.name)


def last_user_text(messages: Sequence[Message]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


@contextlib.contextmanager
def forbid_remote_calls() -> Iterator[None]:
    """While active, every LiteLLMModel call to a non-loopback endpoint raises ModelError."""
    from agentevo.models import remote

    previous = remote.ALLOW_REMOTE
    remote.ALLOW_REMOTE = False
    try:
        yield
    finally:
        remote.ALLOW_REMOTE = previous


try:
    import pytest

    @pytest.fixture
    def forbid_remote_models() -> Iterator[None]:
        """Every LiteLLMModel call to a non-loopback endpoint raises ModelError while active."""
        with forbid_remote_calls():
            yield
except ImportError:  # pytest is a test-time dependency only
    forbid_remote_models: Any = None

__all__ = [
    "Call",
    "FunctionModel",
    "HashEmbedder",
    "ScriptedModel",
    "UnexpectedModelCall",
    "forbid_remote_calls",
    "forbid_remote_models",
    "last_user_text",
]
