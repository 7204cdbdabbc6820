"""Calling a model with a constraint: only a model that says it can follow one (`constrains`) is passed it.

A local model decodes under the grammar; a remote one uses its provider's JSON-schema mode where the model map
says there is one; a scripted test model, or any model without `constrains`, is called as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentevo.protocols import Model
from agentevo.records import Message, ModelReply


def ask(model: Model, messages: Sequence[Message], *, constraint: Any = None, **kwargs: Any) -> ModelReply:
    if constraint is not None and getattr(model, "constrains", False):
        return model.complete(messages, constraint=constraint, **kwargs)  # type: ignore[call-arg]
    return model.complete(messages, **kwargs)
