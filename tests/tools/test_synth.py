"""The LLM synthesiser: a proposal the gate refuses goes back to the model with the reason; a readable,
passing repair is registered; attempts are bounded."""

import pytest

from agentevo.agent.episode import run_episode
from agentevo.testing import ScriptedModel
from agentevo.tools.replay import SuiteEnvs
from agentevo.tools.synth import LLMSynthesiser, parse_proposal
from tests.helpers import code_env, episode, humaneval_task, solution
from tests.tools.helpers import make_archive

TASK_ID = "HumanEval/0"

TESTS = """```python test_tool.py
from tool import has_close_elements


def test_close_pair():
    assert has_close_elements([1.0, 1.1, 5.0], 0.2) is True
    assert has_close_elements([1.0, 2.0, 5.0], 0.5) is False
```"""


def proposal(body: str) -> str:
    return f'''NAME: has_close_elements
KIND: code
```python tool.py
def has_close_elements(numbers: list[float], threshold: float) -> bool:
    """Whether any two numbers in the list are closer to each other than the threshold."""
{body}
```
{TESTS}'''


BUGGY = proposal("    return any(abs(a - b) <= threshold for a in numbers for b in numbers)")
FIXED = proposal(
    "    pairs = [(a, b) for i, a in enumerate(numbers) for j, b in enumerate(numbers) if i != j]\n"
    "    return any(abs(a - b) < threshold for a, b in pairs)"
)


@pytest.fixture(scope="module")
def trajectory():
    task = humaneval_task(TASK_ID)
    env = code_env()
    traj = run_episode(task, episode(env, ScriptedModel([solution(task)])), episode_id="synth-source")
    env.close()
    assert traj.succeeded
    return traj


@pytest.fixture
def archive(tmp_path):
    envs = SuiteEnvs(tmp_path)
    a = make_archive(tmp_path / "tools_archive", envs=envs)
    yield a
    envs.close()


def test_a_refused_proposal_is_repaired_with_the_gates_reason(trajectory, archive):
    model = ScriptedModel([BUGGY, FIXED])
    tool = LLMSynthesiser(model, archive, attempts=3).synthesise([trajectory])
    assert (tool.name, tool.version) == ("has_close_elements", 1)
    model.assert_complete()
    first = model.calls[0].messages
    assert first[1]["role"] == "user" and "count_vowels" in first[2]["content"]  # the demonstration turn
    shown = first[-1]["content"]
    assert "Complete this Python function" in shown and "All tests passed." in shown
    repair = model.calls[1].messages[-1]["content"]
    assert "validation gate refused" in repair and "tests-failed" in repair
    rejected = archive.registry.rejections()
    assert [(r.code, r.origin) for r in rejected] == [("tests-failed", "llm")]
    assert tool.provenance.source == "llm" and tool.provenance.trajectory_ids == ("synth-source",)
    assert archive.replays("has_close_elements", 1)[0].task.id == TASK_ID  # the source task was replayed


def test_an_unreadable_reply_gets_format_feedback(trajectory, archive):
    model = ScriptedModel(["Sure! Here is a great tool for you.", FIXED])
    tool = LLMSynthesiser(model, archive).synthesise([trajectory])
    assert tool is not None
    assert "could not read your reply" in model.calls[1].messages[-1]["content"]
    assert archive.registry.rejections()[0].code == "format"


def test_attempts_are_bounded_and_nothing_is_registered(trajectory, archive):
    model = ScriptedModel([BUGGY, BUGGY])
    assert LLMSynthesiser(model, archive, attempts=2).synthesise([trajectory]) is None
    model.assert_complete()
    assert archive.state() == {}
    assert len(archive.registry.rejections()) == 2


def test_the_proposal_format_is_strict():
    p = parse_proposal(FIXED, "code")
    assert p.name == "has_close_elements" and p.source.startswith("def has_close_elements")
    assert p.tests.startswith("from tool import")
    os_reply = FIXED.replace("KIND: code", 'KIND: os\nARGS: {"path": "/tmp/x"}')
    assert parse_proposal(os_reply, "os").args == {"path": "/tmp/x"}
    from agentevo.errors import FormatError

    with pytest.raises(FormatError, match="ARGS"):
        parse_proposal(FIXED.replace("KIND: code", "KIND: os"), "os")
    with pytest.raises(FormatError, match="need a code tool"):
        parse_proposal(FIXED.replace("KIND: code", "KIND: web"), "code")
