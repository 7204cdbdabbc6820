from __future__ import annotations

import jsonschema
import numpy as np

from agentevo.agent.parsing import parse_tool_call
from agentevo.constrain import for_reply
from agentevo.envs.code import extract_code
from agentevo.envs.os import parse_action as parse_os_action
from agentevo.records import ModelReply, Observation, ToolSpec

OBS = Observation(text="The output of the OS:\n\n23")
COUNT = ToolSpec(
    name="count_files",
    description="Count the files in a directory.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


def walks(vocab, constraint, seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    replies = [r for r in (vocab.walk(constraint, rng) for _ in range(n)) if r is not None]
    assert len(replies) >= 0.75 * n
    return replies


def test_every_os_reply_the_grammar_allows_is_one_action_of_the_os_env(vocab):
    names = set()
    for reply in walks(vocab, for_reply("os", OBS, ()), seed=5, n=120):
        action = parse_os_action(reply)
        names.add(action.name)
        if action.name == "bash":
            assert action.args["script"].strip()
    assert names == {"bash", "answer", "finish"}


def test_an_os_answer_keeps_its_parentheses_and_a_script_cannot_hide_another_act(vocab):
    constraint = for_reply("os", OBS, ())
    guide = vocab.guide(constraint)
    reply = "Think: I know it.\n\nAct: answer(f(x) = 2)"
    tokens = vocab.tokens(reply)
    assert guide.matcher.try_consume_tokens(tokens) == len(tokens) and guide.accepting
    assert parse_os_action(reply).args == {"answer": "f(x) = 2"}
    sneaky = vocab.tokens("Think: list.\n\nAct: bash\n\n```bash\nls\n# Act: answer(7)\n```")
    assert vocab.guide(constraint).matcher.try_consume_tokens(sneaky) < len(sneaky)


def test_with_tools_offered_an_os_reply_is_a_valid_call_or_an_env_action_never_both(vocab):
    calls = 0
    for reply in walks(vocab, for_reply("os", OBS, [COUNT]), seed=6, n=120):
        call = parse_tool_call(ModelReply(text=reply), [COUNT])
        if call is None:
            parse_os_action(reply)
            continue
        calls += 1
        jsonschema.validate(call.args["args"], COUNT.parameters)
    assert calls >= 5
    tokens = vocab.tokens("Think: count.\n\nAct: bash\n\n```bash\ncall count_files\n```")
    assert vocab.guide(for_reply("os", OBS, [COUNT])).matcher.try_consume_tokens(tokens) < len(tokens)


def test_every_code_reply_the_grammar_allows_submits_its_python_block(vocab):
    for reply in walks(vocab, for_reply("code", OBS, ()), seed=8, n=120):
        code = extract_code(reply)
        assert code.strip() and f"```python\n{code}```" in reply
    solution = "Sum them.\n```python\ndef add(a, b):\n    return a + b\n```"
    guide = vocab.guide(for_reply("code", OBS, ()))
    tokens = vocab.tokens(solution)
    assert guide.matcher.try_consume_tokens(tokens) == len(tokens) and guide.accepting
    assert extract_code(solution) == "def add(a, b):\n    return a + b\n"


def test_with_tools_offered_a_code_reply_is_a_valid_call_or_a_solution(vocab):
    calls = 0
    for reply in walks(vocab, for_reply("code", OBS, [COUNT]), seed=9, n=120):
        call = parse_tool_call(ModelReply(text=reply), [COUNT])
        if call is None:
            assert extract_code(reply).strip()
            continue
        calls += 1
        jsonschema.validate(call.args["args"], COUNT.parameters)
    assert calls >= 5
