"""One reply's decoding under a Constraint: which tokens may come next, and the adapters the engines call.

    tok = hf_lltokenizer(hf_tokenizer)                     # or llama_lltokenizer(llama); cached per object
    guide = Guide(tok, constraint)
    model.generate(..., logits_processor=LogitsProcessorList([torch_logits_processor(guide)]))
    llama(..., logits_processor=LogitsProcessorList([numpy_logits_processor(guide)]))   # llama_cpp's list

A token the grammar forbids, or a grammar that does not compile, raises ModelError: decoding never goes on
past a broken constraint.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from agentevo.constrain.constraint import Constraint
from agentevo.errors import ModelError

if TYPE_CHECKING:
    import llguidance

_TOKENIZERS: weakref.WeakKeyDictionary[Any, llguidance.LLTokenizer] = weakref.WeakKeyDictionary()
_BY_ID: dict[int, llguidance.LLTokenizer] = {}


def _cached(owner: Any, build: Callable[[], llguidance.LLTokenizer]) -> llguidance.LLTokenizer:
    try:
        found = _TOKENIZERS.get(owner)
    except TypeError:  # not weak-referenceable: keep it by id for the process's life
        found = _BY_ID.get(id(owner))
        if found is None:
            found = _BY_ID[id(owner)] = build()
        return found
    if found is None:
        found = _TOKENIZERS[owner] = build()
    return found


def hf_lltokenizer(hf_tokenizer: Any) -> llguidance.LLTokenizer:
    """The llguidance tokenizer of a fast Hugging Face tokenizer (about a second to build; cached)."""

    def build() -> llguidance.LLTokenizer:
        import llguidance.hf

        return llguidance.hf.from_tokenizer(hf_tokenizer)

    return _cached(hf_tokenizer, build)


def llama_lltokenizer(llama: Any) -> llguidance.LLTokenizer:
    """The llguidance tokenizer of a llama_cpp.Llama's vocabulary (cached)."""

    def build() -> llguidance.LLTokenizer:
        import llama_cpp
        import llguidance.llamacpp

        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        return llguidance.llamacpp.lltokenizer_from_vocab(vocab)

    return _cached(llama, build)


class Guide:
    """The state of one reply: the allowed-token bitmask, the tokens consumed, whether the grammar is done."""

    def __init__(self, tokenizer: llguidance.LLTokenizer, constraint: Constraint) -> None:
        self.tokenizer = tokenizer
        self.constraint = constraint
        import llguidance

        grammar = llguidance.LLMatcher.grammar_from_lark(constraint.lark)
        self.matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        self._check("does not compile")
        self.words = (tokenizer.vocab_size + 31) // 32
        self.bitmask = np.full((1, self.words), -1, dtype=np.int32)
        self.consumed = 0

    def _check(self, what: str) -> None:
        if self.matcher.is_error():
            error = " ".join(self.matcher.get_error().split())
            raise ModelError(f"the {self.constraint.label} grammar {what}: {error}")

    def fill_bitmask(self) -> np.ndarray:
        """The allowed next tokens as bits (int32 words, bit i of word j is token 32·j + i); (1, words)."""
        import llguidance.numpy

        llguidance.numpy.fill_next_token_bitmask(self.matcher, self.bitmask)
        self._check("failed")
        return self.bitmask

    def allowed(self) -> np.ndarray:
        """The allowed next token ids."""
        bits = np.unpackbits(self.fill_bitmask()[0].view(np.uint8), bitorder="little")
        return np.flatnonzero(bits[: self.tokenizer.vocab_size])

    def consume(self, token: int) -> None:
        if not self.matcher.consume_token(int(token)):
            shown = self.tokenizer.dbg_tokens([int(token)])
            raise ModelError(
                f"the {self.constraint.label} grammar forbids token {shown} after {self.consumed} tokens"
                f" ({' '.join(self.matcher.get_error().split())})"
            )
        self.consumed += 1

    @property
    def accepting(self) -> bool:
        """The reply so far is a whole reply of the grammar (end of sequence may come next)."""
        return self.matcher.is_accepting()

    @property
    def finished(self) -> bool:
        """Nothing but the end may come: the grammar is complete (or the end token was consumed)."""
        return self.matcher.is_stopped() or (
            self.accepting and self.allowed().tolist() == [self.tokenizer.eos_token]
        )


def _expand(bitmask: np.ndarray, vocab: int) -> np.ndarray:
    """Bits → bool per token, padded with False (or cut) to the scores' vocabulary size."""
    allowed = np.unpackbits(bitmask.view(np.uint8), bitorder="little").astype(bool)
    if allowed.size >= vocab:
        return allowed[:vocab]
    return np.concatenate([allowed, np.zeros(vocab - allowed.size, dtype=bool)])


class _NewTokens:
    """Which ids of a growing sequence the guide has not consumed yet: the first call fixes the prompt."""

    def __init__(self, guide: Guide) -> None:
        self.guide = guide
        self.prompt: int | None = None

    def feed(self, ids: Any) -> None:
        if self.prompt is None:
            self.prompt = len(ids)
            return
        for token in ids[self.prompt + self.guide.consumed :]:
            self.guide.consume(int(token))


def torch_logits_processor(guide: Guide) -> Any:
    """A transformers LogitsProcessor (batch 1) that feeds the guide each new token and masks the scores.

    The mask is unpacked and, for CPU scores, applied by numpy: llguidance.torch's kernel is torch.compile'd
    (about 20 s on its first call on a CPU), and torch's own small ops cost tens of milliseconds each when
    its OpenMP threads compete for a loaded machine's cores (bench/constrain_cost.py)."""
    import torch
    from transformers import LogitsProcessor

    NUMPY_FLOATS = (torch.float32, torch.float64)

    class GuidedLogits(LogitsProcessor):
        def __init__(self) -> None:
            self.tokens = _NewTokens(guide)

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            if input_ids.shape[0] != 1:
                raise ModelError(f"constrained decoding takes one sequence, not {input_ids.shape[0]}")
            self.tokens.feed(input_ids[0].tolist())
            forbidden = ~_expand(guide.fill_bitmask()[0], scores.shape[-1])
            if scores.device.type == "cpu" and scores.dtype in NUMPY_FLOATS and scores.is_contiguous():
                np.putmask(scores.numpy()[0], forbidden, -np.inf)  # in place, one thread
                return scores
            return scores.masked_fill(torch.from_numpy(forbidden).to(scores.device), float("-inf"))

    return GuidedLogits()


def numpy_logits_processor(guide: Guide) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """llama-cpp-python's logits processor: called with every id so far (prompt first) and the next
    token's 1-D scores."""
    tokens = _NewTokens(guide)

    def process(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        tokens.feed(input_ids)
        allowed = _expand(guide.fill_bitmask()[0], scores.shape[-1])
        return np.where(allowed, scores, np.float32(-np.inf)).astype(scores.dtype, copy=False)

    return process
