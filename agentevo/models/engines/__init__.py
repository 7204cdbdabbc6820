"""The runtimes a local model can run in, behind one small interface.

    llama          llama.cpp through llama-cpp-python: the GGUF as it is (quantised), prompt-prefix reuse
                   across calls, LoRA adapters converted to GGUF; the default when it is installed
    transformers   the GGUF dequantised into PyTorch weights, with a prefix KV cache; the fallback, and the
                   engine LoRA training uses

An engine turns a chat into tokens and back; `EmbeddedModel` (models.local) owns everything an engine does not
change: the settings, the context budget, the stop strings and the reply record. `bench/model_speed.py`
measures them on the same prompts and episodes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agentevo.errors import ConfigError

ENGINES = ("llama", "transformers")
AUTO = "auto"


@dataclass(frozen=True)
class Generated:
    text: str
    tokens_in: int
    tokens_out: int
    finished: bool  # ended by itself (end of turn, a stop string, a loop, the grammar) rather than the limit


@dataclass(frozen=True)
class Request:
    """One reply as an engine sees it: effective settings, already merged with the model's defaults."""

    messages: Sequence[Any]
    limit: int
    temperature: float
    top_p: float
    seed: int
    stop: Sequence[str] = ()
    constraint: Any = None  # agentevo.constrain.Constraint, or None for free text


class Engine(Protocol):
    name: str
    context_tokens: int

    def encode(self, messages: Sequence[Any]) -> list[int]:
        """The chat as the prompt's token ids (the model's chat template, generation prompt added)."""
        ...

    def generate(self, request: Request, prompt: list[int]) -> Generated:
        """A reply to `prompt`, the ids `encode` gave for `request.messages`."""
        ...


def installed(engine: str) -> bool:
    if engine == "llama":
        return importlib.util.find_spec("llama_cpp") is not None
    if engine == "transformers":
        return importlib.util.find_spec("transformers") is not None
    return False


def choose(requested: str) -> str:
    """The engine a `--engine` value means here: `auto` is llama.cpp when it is installed."""
    if requested == AUTO:
        return "llama" if installed("llama") else "transformers"
    if requested not in ENGINES:
        raise ConfigError(f"unknown engine {requested!r}; choose auto, {', '.join(ENGINES)}")
    if not installed(requested):
        fix = "make setup builds it" if requested == "llama" else "pip install transformers"
        raise ConfigError(f"engine {requested!r} is not installed ({fix})")
    return requested
