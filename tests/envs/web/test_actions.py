import pytest

from agentevo.envs.web.actions import format_action, parse_action
from agentevo.errors import FormatError


def test_the_first_backtick_block_is_the_action():
    action = parse_action(
        "Let's think. In summary, the next action I will perform is ```click [42]``` ok ```stop```"
    )
    assert (action.name, action.args) == ("click", {"id": "42"})


def test_a_bare_action_line_is_read_when_there_is_no_block():
    action = parse_action("I will open it.\nclick [7]\nthanks")
    assert (action.name, action.args) == ("click", {"id": "7"})


def test_a_fenced_block_with_a_language_tag_still_parses():
    assert parse_action("```text\nhover [3]\n```").args == {"id": "3"}


def test_type_presses_enter_unless_told_zero():
    assert parse_action("```type [5] [hello world]```").args == {
        "id": "5",
        "text": "hello world",
        "enter": True,
    }
    assert parse_action("```type [5] [hi] [0]```").args["enter"] is False
    assert parse_action("```type [5] [a [b] c] [1]```").args["text"] == "a [b] c"


def test_stop_carries_the_answer_and_may_be_empty():
    assert parse_action("```stop [N/A]```").args == {"answer": "N/A"}
    assert parse_action("```stop```").args == {"answer": ""}


def test_press_scroll_tabs_and_navigation_parse():
    assert parse_action("```press [ctrl+a]```").args == {"key": "Control+a"}
    assert parse_action("```scroll [down]```").args == {"direction": "down"}
    assert parse_action("```scroll up```").args == {"direction": "up"}
    assert parse_action("```tab_focus [1]```").args == {"index": 1}
    assert parse_action("```goto [http://x.test/a?b=1]```").args == {"url": "http://x.test/a?b=1"}
    for verb in ("new_tab", "close_tab", "go_back", "go_forward"):
        assert parse_action(f"```{verb}```").name == verb


def test_a_reply_without_an_action_raises_format_error_with_the_grammar():
    with pytest.raises(FormatError) as info:
        parse_action("I am not sure what to do here.")
    assert "click [id]" in info.value.feedback


@pytest.mark.parametrize(
    "reply", ["```click here```", "```type [5]```", "```fly [3]```", "```scroll [left]```"]
)
def test_malformed_actions_raise_format_error(reply):
    with pytest.raises(FormatError):
        parse_action(reply)


def test_format_action_writes_the_grammar_back():
    for text in ("click [4]", "type [5] [hi] [0]", "stop [42]", "goto [http://a.test]", "scroll [up]"):
        assert format_action(parse_action(f"```{text}```")) == text
