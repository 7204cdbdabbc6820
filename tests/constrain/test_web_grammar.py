from __future__ import annotations

import jsonschema
import numpy as np

from agentevo.agent.parsing import parse_tool_call
from agentevo.constrain import for_reply, web_ids
from agentevo.envs.web.actions import parse_action
from agentevo.records import ModelReply, Observation, ToolSpec

TREE = (
    "Tab 0 (current): Sign in | Tab 1: Help\n\n"
    "[1] RootWebArea 'Sign in' focused: True\n"
    "\t[8] heading 'Sign in'\n"
    "\t[11] textbox 'Username' required: False\n"
    "\t\t[14] textbox 'Password' required: False\n"
    "\t[17] button 'Log in'\n"
    "\t[23] StaticText 'Order [99] is pending'"
)
OBS = Observation(text=TREE, url="http://localhost/login", meta={"tabs": ["Sign in", "Help"]})
LOGIN = ToolSpec(
    name="log_in",
    description="Log in.",
    parameters={
        "type": "object",
        "properties": {"user": {"type": "string"}, "remember": {"type": "boolean"}},
        "required": ["user"],
    },
)


def test_the_ids_are_those_at_the_start_of_tree_lines():
    assert web_ids(TREE) == ["1", "8", "11", "14", "17", "23"]


def test_every_web_reply_the_grammar_allows_parses_to_an_action_on_the_page(vocab):
    constraint = for_reply("web", OBS, ())
    rng = np.random.default_rng(7)
    verbs, done = set(), 0
    for _ in range(200):
        reply = vocab.walk(constraint, rng)
        if reply is None:
            continue
        done += 1
        action = parse_action(reply)
        verbs.add(action.name)
        if action.name in ("click", "hover", "type"):
            assert action.args["id"] in web_ids(TREE), reply
        if action.name == "tab_focus":
            assert action.args["index"] in (0, 1), reply
    assert done >= 150
    assert len(verbs) >= 8, verbs


def test_an_id_not_on_the_page_cannot_be_written(vocab):
    constraint = for_reply("web", OBS, ())
    guide = vocab.guide(constraint)
    good = vocab.tokens("I log in.\n```click [17]```")
    assert guide.matcher.try_consume_tokens(good) == len(good) and guide.accepting
    for reply in (
        "I log in.\n```click [99]```",
        "I log in.\n```tab_focus [2]```",
        "Go.\n```goto [ftp://x]```",
    ):
        tokens = vocab.tokens(reply)
        guide = vocab.guide(constraint)
        assert guide.matcher.try_consume_tokens(tokens) < len(tokens), reply


def test_a_page_without_elements_offers_no_element_actions(vocab):
    constraint = for_reply("web", Observation(text="Tab 0 (current): blank\n\n"), ())
    tokens = vocab.tokens("Nothing here.\n```click [1]```")
    assert vocab.guide(constraint).matcher.try_consume_tokens(tokens) < len(tokens)
    tokens = vocab.tokens("Nothing here.\n```goto [http://localhost/]```")
    guide = vocab.guide(constraint)
    assert guide.matcher.try_consume_tokens(tokens) == len(tokens) and guide.accepting


def test_an_offered_tool_is_called_with_arguments_its_schema_accepts(vocab):
    constraint = for_reply("web", OBS, [LOGIN])
    rng = np.random.default_rng(11)
    calls = 0
    for _ in range(150):
        reply = vocab.walk(constraint, rng)
        if reply is None:
            continue
        call = parse_tool_call(ModelReply(text=reply), [LOGIN])
        if call is None:
            parse_action(reply)
            continue
        calls += 1
        jsonschema.validate(call.args["args"], LOGIN.parameters)
    assert calls >= 5
    tokens = vocab.tokens('Use the tool.\n```call log_in {"remember": true}```')  # `user` is required
    assert vocab.guide(constraint).matcher.try_consume_tokens(tokens) < len(tokens)


def test_a_tool_whose_schema_llguidance_cannot_compile_is_called_with_any_object(vocab):
    schema = {"type": "object", "properties": {"a": {"$ref": "#/x"}}}
    odd = ToolSpec(name="odd", description="d", parameters=schema)
    guide = vocab.guide(for_reply("web", OBS, [odd]))
    tokens = vocab.tokens('Try it.\n```call odd {"b": 1}```')
    assert guide.matcher.try_consume_tokens(tokens) == len(tokens) and guide.accepting
