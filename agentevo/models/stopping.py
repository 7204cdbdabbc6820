"""Stop a small model that has fallen into a loop.

A 135M model that loses its way often repeats itself ("[No] [No] [No] …", "click-click-click-…") until
the token limit, which on a CPU costs half a minute a reply and adds nothing. `RepetitionLoop` ends
generation once the newest tokens are one short cycle repeated: a period of at most `max_period` tokens,
repeated until it spans at least `min_span` tokens and at least `min_repeats` times.
Only generated tokens are looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def ends_in_loop(
    tokens: Sequence[int], *, max_period: int = 32, min_span: int = 24, min_repeats: int = 3
) -> bool:
    for period in range(1, max_period + 1):
        repeats = max(min_repeats, -(-min_span // period))
        span = period * repeats
        if span > len(tokens):
            break
        tail = tokens[-span:]
        cycle = tail[-period:]
        if all(tail[i] == cycle[i % period] for i in range(span)):
            return True
    return False


def repetition_loop(prompt_tokens: int) -> Any:
    """A transformers stopping criterion (batch of one) for `ends_in_loop` on the generated part."""
    import torch
    from transformers import StoppingCriteria

    class RepetitionLoop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            generated = input_ids[0, prompt_tokens:].tolist()
            return torch.tensor([ends_in_loop(generated)], dtype=torch.bool, device=input_ids.device)

    return RepetitionLoop()
