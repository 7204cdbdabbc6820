"""Grammar-constrained replies: what a model may write next, as an llguidance grammar of the whole reply.

    constraint = for_reply("web", observation, tools)       # None for a kind without a reply grammar
    guide = Guide(hf_lltokenizer(tokenizer), constraint)    # one reply's decoding state
    processor = torch_logits_processor(guide)               # or numpy_logits_processor(guide) for llama.cpp

A kind states its grammar in its KindSpec (`reply_grammar`), so a plug-in kind brings its own; the built-in
ones are in `grammars`. The replies asked for outside episodes (reflector, judge, synthesiser) are in
`structured`.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentevo.constrain.constraint import Constraint, json_reply
from agentevo.constrain.grammars import code_reply, os_reply, web_ids, web_reply
from agentevo.constrain.guide import (
    Guide,
    hf_lltokenizer,
    llama_lltokenizer,
    numpy_logits_processor,
    torch_logits_processor,
)
from agentevo.constrain.structured import REFLECTION_SCHEMA, judge_reply, reflection_reply, synth_reply
from agentevo.records import Observation, ToolSpec


def for_reply(kind: str, observation: Observation, tools: Sequence[ToolSpec] = ()) -> Constraint | None:
    """The grammar of the next reply in an episode of `kind`, as its KindSpec states it (None: no grammar)."""
    from agentevo.kinds import kind as kind_spec

    build = kind_spec(kind).reply_grammar
    return build(observation, tools) if build is not None else None


__all__ = [
    "REFLECTION_SCHEMA",
    "Constraint",
    "Guide",
    "code_reply",
    "for_reply",
    "hf_lltokenizer",
    "json_reply",
    "judge_reply",
    "llama_lltokenizer",
    "numpy_logits_processor",
    "os_reply",
    "reflection_reply",
    "synth_reply",
    "torch_logits_processor",
    "web_ids",
    "web_reply",
]
