from __future__ import annotations

import json

import jsonschema
import numpy as np

from agentevo.constrain import REFLECTION_SCHEMA, judge_reply, reflection_reply, synth_reply
from agentevo.evolve.judge import VERDICT
from agentevo.kinds import kind
from agentevo.memory.llm_reflector import parse_items
from agentevo.tools.synth import parse_proposal


def walks(vocab, constraint, seed: int, n: int, cap: int = 400) -> list[str]:
    rng = np.random.default_rng(seed)
    replies = [r for r in (vocab.walk(constraint, rng, cap) for _ in range(n)) if r is not None]
    assert len(replies) >= 0.7 * n
    return replies


def test_every_reflection_the_grammar_allows_keeps_all_its_items(vocab):
    constraint = reflection_reply()
    assert constraint.json_schema == REFLECTION_SCHEMA and constraint.label == "json:reflection"
    kept = 0
    for reply in walks(vocab, constraint, seed=1, n=80):
        data = json.loads(reply)
        jsonschema.validate(data, REFLECTION_SCHEMA)
        assert len(parse_items(reply)) == len(data["items"]) <= 3
        kept += len(data["items"])
    assert kept >= 10


def test_a_reflection_title_the_reflector_would_drop_cannot_be_written(vocab):
    for title in ("  ab  ", "x"):
        item = {"kind": "insight", "title": title, "description": "", "content": "abc"}
        reply = json.dumps({"items": [item]})
        tokens = vocab.tokens(reply)
        assert vocab.guide(reflection_reply()).matcher.try_consume_tokens(tokens) < len(tokens), title


def test_every_judge_reply_the_grammar_allows_has_the_verdict_it_ends_with(vocab):
    for reply in walks(vocab, judge_reply(), seed=2, n=80):
        match = VERDICT.search(reply)
        assert match is not None and reply.endswith(match.group(1))
    tokens = vocab.tokens("Verdict: it failed.\nVERDICT: SUCCESS")
    assert vocab.guide(judge_reply()).matcher.try_consume_tokens(tokens) < len(tokens)


def test_every_synthesised_proposal_the_grammar_allows_is_read_by_the_synthesiser(vocab):
    for name in ("os", "code"):
        spec = kind(name)
        for reply in walks(vocab, synth_reply(name, tool_args=spec.tool_args), seed=3, n=40, cap=800):
            proposal = parse_proposal(reply, name)
            assert proposal.kind == name and proposal.source.strip() and proposal.tests.strip()
            assert isinstance(proposal.args, dict)
            assert (reply.count("\nARGS: ") == 1) == spec.tool_args
