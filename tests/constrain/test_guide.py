from __future__ import annotations

import numpy as np
import pytest
import torch

from agentevo.constrain import (
    Constraint,
    for_reply,
    numpy_logits_processor,
    torch_logits_processor,
)
from agentevo.errors import ModelError
from agentevo.kinds import KindSpec, register_kind
from agentevo.records import Observation

OBS = Observation(text="Tab 0 (current): Home\n\n[1] RootWebArea 'Home'\n\t[4] link 'Orders'")
PROMPT = [1, 9690, 198, 2683, 314]


def test_the_torch_processor_lets_only_allowed_tokens_win(vocab):
    guide = vocab.guide(for_reply("web", OBS, ()))
    processor = torch_logits_processor(guide)
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([PROMPT])
    for _ in range(40):
        scores = processor(ids, torch.randn(1, 49152, generator=generator))  # feeds the newest id first
        allowed = set(guide.allowed().tolist())
        token = int(scores.argmax())
        assert token in allowed
        assert torch.isinf(scores).sum() == 49152 - len(allowed)
        if token == vocab.eos:
            break
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    assert guide.consumed == ids.shape[1] - len(PROMPT)


def test_the_numpy_processor_counts_the_prompt_and_masks_a_wider_vocabulary(vocab):
    guide = vocab.guide(for_reply("os", OBS, ()))
    processor = numpy_logits_processor(guide)
    rng = np.random.default_rng(0)
    ids = np.array(PROMPT, dtype=np.intc)
    for _ in range(40):
        scores = processor(ids, rng.standard_normal(49152 + 64).astype(np.float32))
        assert scores.dtype == np.float32 and np.isinf(scores[49152:]).all()
        token = int(scores.argmax())
        assert token in set(guide.allowed().tolist())
        ids = np.append(ids, np.intc(token))
        if token == vocab.eos:
            break
    assert guide.consumed == len(ids) - len(PROMPT) - 1  # the last token chosen is fed on the next call
    assert vocab.tokenizer.decode_str(ids[len(PROMPT) : len(PROMPT) + 7].tolist()).startswith("Think: ")


def test_a_token_the_grammar_forbids_raises_a_model_error(vocab):
    guide = vocab.guide(for_reply("web", OBS, ()))
    processor = torch_logits_processor(guide)
    processor(torch.tensor([PROMPT]), torch.zeros(1, 49152))
    forbidden = vocab.tokens("`")[0]  # a reply starts with its reasoning, never a backtick
    with pytest.raises(ModelError, match="web-action grammar forbids token"):
        processor(torch.tensor([[*PROMPT, forbidden]]), torch.zeros(1, 49152))


def test_a_grammar_that_does_not_compile_raises_a_model_error(vocab):
    with pytest.raises(ModelError, match="the broken grammar does not compile"):
        vocab.guide(Constraint(lark="start: undefined_rule\n", label="broken"))


def test_a_kind_without_a_reply_grammar_is_not_constrained_and_one_with_it_is_asked():
    register_kind(KindSpec(name="constrain-plain"))
    assert for_reply("constrain-plain", OBS, ()) is None
    mine = Constraint(lark='start: "ok"\n', label="mine")
    register_kind(KindSpec(name="constrain-own", reply_grammar=lambda obs, tools: mine))
    assert for_reply("constrain-own", OBS, ()) is mine


def test_the_digest_names_the_grammar_and_its_label():
    a, b = Constraint(lark='start: "a"\n', label="x"), Constraint(lark='start: "a"\n', label="y")
    assert a.digest != b.digest
    assert a.digest == Constraint(lark='start: "a"\n', label="x").digest
    other_page = Observation(text="[9] button 'Go'")
    assert for_reply("web", OBS, ()).digest != for_reply("web", other_page, ()).digest


def test_the_torch_processor_masks_half_precision_scores_too(vocab):
    guide = vocab.guide(for_reply("code", OBS, ()))
    processor = torch_logits_processor(guide)
    scores = processor(torch.tensor([PROMPT]), torch.randn(1, 49152).to(torch.bfloat16))
    assert scores.dtype == torch.bfloat16
    assert set(torch.isfinite(scores[0]).nonzero().flatten().tolist()) == set(guide.allowed().tolist())
