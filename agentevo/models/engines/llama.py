"""The llama.cpp engine (llama-cpp-python): a GGUF file run as it is, quantised, on the CPU (or a GPU build).

`make setup` builds llama-cpp-python once per machine with portable flags and keeps the wheel (see
scripts/engine-wheel). One `Llama` per (file, adapter) per process is shared by every model on it; a lock
serialises replies, and only the few most recently used stay loaded (engines.resident). llama.cpp keeps
the key/value cache of the previous prompt and only evaluates the tokens after the longest common prefix,
so an agent's next step pays for its new observation, not the whole chat; snapshots of recent conversations
(`PromptStates`) let concurrent episodes, which take turns on the model, each resume from their own.

The chat template is the file's own (`tokenizer.chat_template`), or the one `--chat-template` names; a
LoRA adapter from `agentevo train lora` is converted to GGUF once, cached by its digest (models.gguf_lora).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentevo.errors import ConfigError, ModelError
from agentevo.models.engines import Generated, Request
from agentevo.models.engines.resident import Resident
from agentevo.models.stopping import ends_in_loop

log = logging.getLogger(__name__)

NAMED_TEMPLATES = ("chatml", "llama3-instruct", "mistral-instruct")
STATE_CACHE_MB = int(os.environ.get("AGENTEVO_LLAMA_STATE_CACHE_MB", "256"))
"""Key/value snapshots of recent conversations kept for reuse (`PromptStates`); 0 turns them off."""
MIN_GAIN = 64  # a snapshot is restored only when it saves at least this many tokens of prefill


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class Snapshot:
    tokens: list[int]
    data: Any  # a ctypes byte buffer: sequence 0 of the key/value cache


class PromptStates:
    """Snapshots of the key/value cache after recent replies, most recent first, within a byte budget.

    llama.cpp's context holds one conversation: when concurrent episodes take turns on the model, each turn
    would prefill its whole conversation again. Before a reply that leaves the conversation in the context,
    that conversation is saved; then the snapshot sharing the longest prefix with the prompt is restored
    when it beats what the context holds. Only the key/value cells are copied (~23 kB a token for
    SmolLM2-135M), not the logits."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.entries: list[Snapshot] = []
        self.restored_tokens = 0

    def switch(self, llm: Any, prompt: Sequence[int]) -> None:
        """Before a reply: when the prompt leaves the conversation the context holds, snapshot that one (its
        next turn resumes from it), then restore the best snapshot for this prompt. One episode at a time
        never leaves its conversation mid-way, so it pays for one snapshot per episode, not one per step."""
        live = llm.input_ids[: llm.n_tokens].tolist()
        if llm.n_tokens - common_prefix(live, prompt) >= MIN_GAIN:
            self.save(llm)
        self.restore(llm, prompt)

    def restore(self, llm: Any, prompt: Sequence[int]) -> int:
        import llama_cpp

        if not self.entries:
            return 0
        live = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt)
        best = max(self.entries, key=lambda e: common_prefix(e.tokens, prompt))
        if common_prefix(best.tokens, prompt) < live + MIN_GAIN:
            return 0
        ctx = llm._ctx.ctx
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        if llama_cpp.llama_state_seq_set_data(ctx, best.data, len(best.data), 0) == 0:
            llm.n_tokens = 0
            return 0
        n = len(best.tokens)
        llm.input_ids[:n] = best.tokens
        llm.n_tokens = n
        llm._requires_eval = True  # logits are not in the snapshot: the last token is evaluated again
        self.restored_tokens += n
        return n

    def save(self, llm: Any) -> None:
        import ctypes

        import llama_cpp

        ctx, n = llm._ctx.ctx, llm.n_tokens
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if n < MIN_GAIN or size > self.budget:
            return
        data = (ctypes.c_uint8 * size)()
        if llama_cpp.llama_state_seq_get_data(ctx, data, size, 0) != size:
            return
        tokens = llm.input_ids[:n].tolist()
        kept = [e for e in self.entries if common_prefix(e.tokens, tokens) < len(e.tokens)]  # not superseded
        self.entries = [Snapshot(tokens, data), *kept]
        while sum(len(e.data) for e in self.entries) > self.budget:
            self.entries.pop()


@dataclass
class Loaded:
    llm: Any
    template: Any  # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    lock: threading.Lock
    states: PromptStates
    tokenizer: Any = None  # the model's own Hugging Face tokenizer (`tokenizers`), when there is one


def reference_tokenizer() -> Any:
    """The embedded model's Hugging Face tokenizer (saved once per machine from the GGUF's vocabulary).

    llama.cpp's pre-tokenizer splits some whitespace runs differently (e.g. a newline, four spaces and a
    digit), so the same prompt could reach the two engines, and the LoRA trainer, as different ids. The
    embedded model's prompts are therefore tokenised by the tokenizer it was trained with."""
    from filelock import FileLock
    from tokenizers import Tokenizer

    from agentevo.config import cache_dir
    from agentevo.models.local import gguf_path

    folder = cache_dir() / "smollm2-tokenizer"
    if not (folder / "tokenizer.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if not (folder / "tokenizer.json").exists():
                from agentevo.models.engines.transformers import quiet_transformers

                quiet_transformers()
                from transformers import AutoTokenizer

                source = gguf_path()
                staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
                AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name).save_pretrained(staging)
                os.replace(staging, folder)
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


_resident: Resident[Loaded] = Resident(free=lambda loaded: loaded.llm.close())


def close_all() -> None:
    """Free every loaded model before the interpreter tears llama_cpp's module down (else its destructor
    runs against a half-unloaded library and prints an error at exit)."""
    _resident.clear()


atexit.register(close_all)


def threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextlib.contextmanager
def quiet_stderr() -> Any:
    """llama.cpp prints its load log on fd 2 whatever `verbose` says for some messages; keep it off."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@dataclass(frozen=True)
class FileFacts:
    template: str | None  # tokenizer.chat_template, if the file has one
    context: int  # the engine's context: the model's own, at most 8,192 tokens (key/value cache memory)


@functools.lru_cache(maxsize=8)
def read_facts(path: Path, size: int, mtime: float) -> FileFacts:
    from gguf import GGUFReader

    try:
        fields = GGUFReader(str(path)).fields  # ~2 s for a 100 MB file: read once per file and process
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable GGUF file ({exc})") from None
    field = fields.get("tokenizer.chat_template")
    template = None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")
    context = next(
        (int(f.parts[f.data[0]][0]) for name, f in fields.items() if name.endswith(".context_length")), 4096
    )
    return FileFacts(template, min(8192, context))


def file_facts(path: Path) -> FileFacts:
    """What the engine needs from a GGUF file's metadata, read without loading the weights (cached by the
    file's size and modification time)."""
    stat = path.stat()
    return read_facts(path, stat.st_size, stat.st_mtime)


def file_template(path: Path) -> str | None:
    """The chat template stored in a GGUF file's metadata."""
    return file_facts(path).template


def named_template(name: str) -> str:
    """`--chat-template` as a Jinja file, or one of the templates llama-cpp-python ships."""
    path = Path(name).expanduser()
    if path.is_file():
        return path.read_text()
    from llama_cpp import llama_chat_format as formats

    known = {
        "chatml": formats.CHATML_CHAT_TEMPLATE,
        "llama3-instruct": formats.LLAMA3_INSTRUCT_CHAT_TEMPLATE,
        "mistral-instruct": formats.MISTRAL_INSTRUCT_CHAT_TEMPLATE,
    }
    if name not in known:
        raise ConfigError(
            f"--chat-template {name!r} is neither a file nor one of {', '.join(NAMED_TEMPLATES)}"
        )
    return known[name]


def template_of(path: Path, chat_template: str | None) -> str:
    """The chat template a file runs with: the named one, else the file's own; none is a one-line error."""
    template = named_template(chat_template) if chat_template else file_template(path)
    if template is None:
        raise ConfigError(
            f"{path.name} has no chat template (a base model?): name one with --chat-template "
            f"({', '.join(NAMED_TEMPLATES)} or a Jinja file)"
        )
    return template


def load(path: Path, adapter: Path | None, chat_template: str | None) -> Loaded:
    """Load a GGUF file (with an adapter, converted once) for chatting; `LlamaEngine` keeps it resident."""
    template = template_of(path, chat_template)
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from agentevo.models.local import gguf_path

    embedded = path == gguf_path()
    lora = None
    if adapter is not None:
        from agentevo.models.gguf_lora import gguf_adapter

        lora = str(gguf_adapter(adapter, None if embedded else path))
    try:
        with quiet_stderr():
            llm = Llama(
                model_path=str(path),
                n_ctx=file_facts(path).context,
                n_threads=threads(),
                n_threads_batch=threads(),
                n_batch=512,
                flash_attn=True,  # prefill of long observations: 1.2-1.3x here (bench/model_speed.py)
                lora_path=lora,
                verbose=False,
            )
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp cannot load {path.name}: {exc}") from None
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
    bos_id = llm.token_bos()
    bos = llm.detokenize([bos_id], special=True).decode("utf-8", "replace") if bos_id >= 0 else ""
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    states = PromptStates(STATE_CACHE_MB << 20)
    tokenizer = reference_tokenizer() if embedded else None
    return Loaded(llm, formatter, threading.Lock(), states, tokenizer)


class LlamaEngine:
    name = "llama"

    def __init__(self, path: Path, adapter: Path | None, chat_template: str | None = None) -> None:
        self.path = path
        self.adapter = adapter
        self.chat_template = chat_template
        template_of(path, chat_template)  # a file that cannot be chatted with fails here, before a run starts
        if adapter is not None:  # so does an adapter llama.cpp cannot take (converted once, then cached)
            from agentevo.models.gguf_lora import gguf_adapter
            from agentevo.models.local import gguf_path

            gguf_adapter(adapter, None if path == gguf_path() else path)

    def key(self) -> tuple[str, str, str]:
        return (str(self.path), str(self.adapter or ""), self.chat_template or "")

    def load(self) -> Loaded:
        return _resident.get(self.key(), functools.partial(load, self.path, self.adapter, self.chat_template))

    def using(self) -> contextlib.AbstractContextManager[Loaded]:
        """The loaded model with its lock held: the only way to reach `llm` (freed between calls at times)."""
        return _resident.use(self.key(), functools.partial(load, self.path, self.adapter, self.chat_template))

    @property
    def context_tokens(self) -> int:
        with self.using() as loaded:
            return int(loaded.llm.n_ctx())

    def encode(self, messages: Sequence[Any]) -> list[int]:
        loaded = self.load()  # the template and the tokenizer outlive a freed llm
        rendered = loaded.template(messages=[dict(m) for m in messages]).prompt
        if loaded.tokenizer is not None:
            return list(loaded.tokenizer.encode(rendered, add_special_tokens=False).ids)
        with self.using() as loaded:
            return loaded.llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)

    def generate(self, request: Request, prompt: list[int]) -> Generated:
        with self.using() as loaded:
            loaded.states.switch(loaded.llm, prompt)
            out = loaded.llm.create_completion(prompt, **self.options(loaded, request, len(prompt)))
        choice, usage = out["choices"][0], out["usage"]
        return Generated(
            text=choice["text"],
            tokens_in=int(usage["prompt_tokens"]),
            tokens_out=int(usage["completion_tokens"]),
            finished=choice.get("finish_reason") != "length",
        )

    def options(self, loaded: Loaded, request: Request, n_prompt: int) -> dict[str, Any]:
        from llama_cpp import LogitsProcessorList, StoppingCriteriaList

        sampled = request.temperature > 0
        options: dict[str, Any] = {
            "max_tokens": request.limit,
            "temperature": request.temperature,
            "top_p": request.top_p if sampled else 1.0,
            "top_k": 0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "stop": list(request.stop) or None,
            "stopping_criteria": StoppingCriteriaList([loop_stop(n_prompt)]),
        }
        if sampled:
            from agentevo.models.engines.transformers import call_seed

            options["seed"] = call_seed(request) % (2**32 - 1)
        if request.constraint is not None:
            from agentevo.constrain import Guide, llama_lltokenizer, numpy_logits_processor

            guide = Guide(llama_lltokenizer(loaded.llm), request.constraint)
            options["logits_processor"] = LogitsProcessorList([numpy_logits_processor(guide)])
        return options


def loop_stop(n_prompt: int) -> Any:
    def stop(input_ids: Any, logits: Any) -> bool:
        return ends_in_loop(list(input_ids[n_prompt:]))

    return stop
