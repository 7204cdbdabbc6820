"""The transformers engine: SmolLM2's GGUF dequantised into PyTorch weights (converted once per machine).

transformers dequantises the GGUF on load (~14 s), so the first load in a machine saves the weights as
safetensors in the agentevo cache; later processes load those in ~1.5 s. Weights (with one adapter merged, or
none) are loaded once per process and shared by every model on them, the few most recently used kept
(engines.resident); generation holds a lock, so one engine is safe to use from many threads.
Recent prompts' key/value caches are kept (`PrefixCache`): an agent's next prompt starts with its last one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from agentevo.config import cache_dir
from agentevo.errors import ConfigError
from agentevo.models.engines import Generated, Request
from agentevo.models.engines.resident import Resident
from agentevo.models.prefix_cache import PrefixCache
from agentevo.models.stopping import repetition_loop

log = logging.getLogger(__name__)


@dataclass
class Weights:
    model: Any
    tokenizer: Any
    lock: threading.Lock
    prefixes: PrefixCache = field(default_factory=PrefixCache)


_resident: Resident[Weights] = Resident(free=lambda weights: None)  # freed once no call holds it any more


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
    from agentevo.models.local import gguf_path

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
    """The base model (with `adapter` merged in) in f32; the engine keeps the most recently used loaded."""
    quiet_transformers()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = ensure_converted()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter is not None:
        model = attach_adapter(model, adapter)
    model.eval()
    return Weights(model=model, tokenizer=tokenizer, lock=threading.Lock())


def attach_adapter(model: Any, adapter: Path) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ConfigError(
            f"{adapter}: adapter does not fit SmolLM2-135M ({str(exc).splitlines()[0]})"
        ) from None


class TransformersEngine:
    name = "transformers"

    def __init__(self, adapter: Path | None, context_tokens: int) -> None:
        self.adapter = adapter
        self.context_tokens = context_tokens

    def load(self) -> Weights:
        return _resident.get(str(self.adapter or ""), functools.partial(load_weights, self.adapter))

    def encode(self, messages: Sequence[Any]) -> list[int]:
        enc = self.load().tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(enc["input_ids"])

    def generate(self, request: Request, prompt: list[int]) -> Generated:
        import torch

        w = self.load()
        enc = {
            "input_ids": torch.tensor([prompt], dtype=torch.long),
            "attention_mask": torch.ones(1, len(prompt), dtype=torch.long),
        }
        with w.lock:
            out = self.run(w, enc, request)
        new = out[0][len(prompt) :]
        text = w.tokenizer.decode(new, skip_special_tokens=True)
        return Generated(
            text=text, tokens_in=len(prompt), tokens_out=len(new), finished=len(new) < request.limit
        )

    def run(self, w: Weights, enc: Any, request: Request) -> Any:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        kwargs: dict[str, Any] = {
            "max_new_tokens": request.limit,
            "pad_token_id": w.tokenizer.eos_token_id,
            "return_dict_in_generate": True,
        }
        if request.temperature > 0:
            torch.manual_seed(call_seed(request))
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if request.stop:
            kwargs.update(stop_strings=list(request.stop), tokenizer=w.tokenizer)
        kwargs["stopping_criteria"] = StoppingCriteriaList([repetition_loop(int(enc["input_ids"].shape[1]))])
        if request.constraint is not None:
            from agentevo.constrain import Guide, hf_lltokenizer, torch_logits_processor

            guide = Guide(hf_lltokenizer(w.tokenizer), request.constraint)
            kwargs["logits_processor"] = LogitsProcessorList([torch_logits_processor(guide)])
        _, cache = w.prefixes.lookup(enc["input_ids"][0].tolist())
        if cache is not None:
            kwargs["cache"] = cache
        with torch.inference_mode():
            out = w.model.generate(**enc, **kwargs)
        cached = getattr(out, "cache", None)
        if cached is not None:  # the cache covers every token but the last one generated
            w.prefixes.store(out.sequences[0][: cached.get_seq_length()].tolist(), cached)
        return out.sequences


def call_seed(request: Request) -> int:
    """A sampled reply's seed: the call's seed mixed with the prompt, so every prompt draws its own sample
    and a rerun of the same prompt draws the same one."""
    digest = hashlib.sha256(json.dumps(list(request.messages), sort_keys=True, default=str).encode()).digest()
    return request.seed * 1_000_003 + int.from_bytes(digest[:4], "big")
