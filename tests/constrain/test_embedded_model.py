"""The embedded SmolLM2-135M itself, decoding under the grammars through transformers' generate."""

from __future__ import annotations

import pytest

from agentevo.agent import prompts
from agentevo.constrain import Guide, for_reply, hf_lltokenizer, torch_logits_processor
from agentevo.envs.code import extract_code
from agentevo.envs.os import parse_action as parse_os_action
from agentevo.envs.web.actions import parse_action as parse_web_action
from agentevo.records import Observation

TREE = "[1] RootWebArea 'Sign in'\n\t[11] textbox 'Username'\n\t[17] button 'Log in'"
PAGE = Observation(text="Tab 0 (current): Sign in\n\n" + TREE, meta={"tabs": ["Sign in"]})
CASES = [
    ("web", "OBSERVATION:\n" + PAGE.text + "\nOBJECTIVE: Log in as alice.\nPREVIOUS ACTION: None"),
    ("os", "How many files are in /etc?"),
    ("code", "Write a function add(a, b) that returns a + b."),
]


@pytest.fixture(scope="module")
def smol():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentevo.models.engines.transformers import ensure_converted

    path = ensure_converted()
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "user"), CASES, ids=[c[0] for c in CASES])
def test_the_embedded_model_greedy_under_the_grammar_writes_a_reply_its_env_parses(smol, kind, user):
    import torch
    from transformers import LogitsProcessorList

    tokenizer, model = smol
    messages = [
        {"role": "system", "content": prompts.render(kind, "system.md")},
        {"role": "user", "content": user},
    ]
    enc = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    guide = Guide(hf_lltokenizer(tokenizer), for_reply(kind, PAGE, ()))
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=256,
            do_sample=False,
            logits_processor=LogitsProcessorList([torch_logits_processor(guide)]),
        )
    reply = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert guide.matcher.is_stopped(), reply  # the grammar ended and the model then ended the reply
    if kind == "web":
        action = parse_web_action(reply)
        assert action.name != "click" or action.args["id"] in ("1", "11", "17")
    elif kind == "os":
        assert parse_os_action(reply).name in ("bash", "answer", "finish")
    else:
        assert extract_code(reply).strip()
