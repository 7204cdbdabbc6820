"""The embedded model's tokenizer (no weights) and random walks through a grammar with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from agentevo.constrain import Constraint, Guide, hf_lltokenizer


@dataclass
class Vocab:
    """The llguidance tokenizer, which tokens are punctuation or space only (they close free text), and
    which hold a backtick, end a line or end the sequence (they close blocks)."""

    tokenizer: object
    structural: np.ndarray
    closers: np.ndarray
    eos: int

    def guide(self, constraint: Constraint) -> Guide:
        return Guide(self.tokenizer, constraint)  # type: ignore[arg-type]

    def tokens(self, text: str) -> list[int]:
        return self.tokenizer.tokenize_str(text)  # type: ignore[attr-defined]

    def walk(self, constraint: Constraint, rng: np.random.Generator, cap: int = 400) -> str | None:
        """A reply of random allowed tokens (often a closing or punctuation one, so free text and blocks
        end); None when the grammar was not finished within `cap` tokens."""
        guide = self.guide(constraint)
        out: list[int] = []
        for _ in range(cap):
            allowed = guide.allowed()
            assert allowed.size > 0, "the grammar left no token to choose"
            closers, structural = allowed[self.closers[allowed]], allowed[self.structural[allowed]]
            draw = rng.random()
            pool = closers if closers.size and draw < 0.15 else allowed
            pool = structural if structural.size and 0.15 <= draw < 0.55 else pool
            token = int(rng.choice(pool))
            guide.consume(token)
            if token == self.eos:
                break
            out.append(token)
        if not guide.accepting:
            return None
        return self.tokenizer.decode_str(out)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def vocab() -> Vocab:
    from transformers import AutoTokenizer

    from agentevo.models.engines.transformers import ensure_converted

    tokenizer = hf_lltokenizer(AutoTokenizer.from_pretrained(ensure_converted()))
    n = tokenizer.vocab_size
    structural, closers = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for i in range(n):
        piece = tokenizer.decode_bytes([i])
        structural[i] = bool(piece) and not any(chr(b).isalnum() or b >= 0x80 for b in piece)
        closers[i] = b"`" in piece or piece.endswith(b"\n")
    structural[tokenizer.eos_token] = closers[tokenizer.eos_token] = True
    return Vocab(tokenizer, structural, closers, tokenizer.eos_token)
