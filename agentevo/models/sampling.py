"""A model that samples: exploration for training episodes, while evaluations stay greedy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentevo.protocols import Model
from agentevo.records import Message, ModelReply, ToolSpec


class AtTemperature:
    """Wraps a Model; calls that name no temperature of their own sample at `temperature`, with the call's
    seed, so a rerun of the same episode samples the same reply."""

    def __init__(self, inner: Model, temperature: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.temperature = temperature

    @property
    def supports_tools(self) -> bool:
        return bool(getattr(self.inner, "supports_tools", False))

    @property
    def constrains(self) -> bool:
        return bool(getattr(self.inner, "constrains", False))

    def reply_settings(
        self,
        *,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        from agentevo.models.cache import reply_settings

        temp = self.temperature if temperature is None else temperature
        return reply_settings(self.inner, stop=stop, max_tokens=max_tokens, temperature=temp, seed=seed)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        constraint: Any = None,
    ) -> ModelReply:
        from agentevo.models.calls import ask

        return ask(
            self.inner,
            messages,
            tools=tools,
            stop=stop,
            max_tokens=max_tokens,
            temperature=self.temperature if temperature is None else temperature,
            seed=seed,
            constraint=constraint,
        )
