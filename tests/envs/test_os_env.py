"""The OS environment: AgentBench's reply format, output truncation, init and start scripts, evaluations."""

from __future__ import annotations

import pytest

from agentevo.envs.os import OUTPUT_KEEP, TRUNCATED, OSEnvironment, parse_action, script_argv, truncate
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.errors import EnvError, FormatError
from agentevo.records import Action, Task
from tests.envs.conftest import needs_bwrap


def task(**meta) -> Task:
    return Task(id="t", suite="os", kind="os", instruction="Do it.", meta=meta)


@pytest.fixture
def env():
    e = OSEnvironment(lambda: open_sandbox("bwrap", Limits(timeout_s=3)), timeout_s=3)
    yield e
    e.close()


# --- the reply format -----------------------------------------------------------------------------------


def test_a_bash_action_takes_every_bash_block():
    reply = "Think: look first.\n\nAct: bash\n\n```bash\nls /work\n```\nand\n```bash\npwd\n```"
    action = parse_action(reply)
    assert (action.name, action.args["script"], action.thought) == ("bash", "ls /work\n\npwd", "look first.")


@pytest.mark.parametrize(
    ("reply", "name", "args"),
    [
        ("Think: done.\n\nAct: answer(42)", "answer", {"answer": "42"}),
        ("Act: answer( two words (a) )", "answer", {"answer": " two words (a) "}),
        ("Think: ok\nAct: finish", "finish", {}),
        ("Act: bash\n```bash\nx\n```\nThink: no wait\nAct: answer(7)", "answer", {"answer": "7"}),
    ],
)
def test_answer_and_finish_and_the_last_act_wins(reply, name, args):
    action = parse_action(reply)
    assert (action.name, action.args) == (name, args)


@pytest.mark.parametrize(
    "reply",
    ["I would list the files.", "Act: bash\nls -l", "Act: answer 42", "Act: dance", "```bash\nls\n```"],
)
def test_replies_without_a_usable_action_get_format_feedback(reply):
    with pytest.raises(FormatError) as caught:
        parse_action(reply)
    assert "Act: bash" in caught.value.feedback and "Act: answer" in caught.value.feedback


def test_long_output_is_cut_as_agentbench_cuts_it():
    assert truncate("x" * 800) == "x" * 800
    cut = truncate("y" * 801)
    assert cut == "y" * OUTPUT_KEEP + TRUNCATED and cut.endswith("[truncated because the output is too long]")


def test_scripts_run_with_their_params_as_argv():
    assert script_argv("echo $1", ["a"]) == ["bash", "-c", "echo $1", "--", "a"]
    assert script_argv({"language": "python", "code": "pass"}, ["a", "b"]) == [
        "python3",
        "-c",
        "pass",
        "a",
        "b",
    ]
    with pytest.raises(EnvError):
        script_argv({"language": "c++", "code": "int main(){}"})


# --- episodes in a real sandbox -------------------------------------------------------------------------


@needs_bwrap
def test_init_runs_before_the_agent_and_commands_see_its_files(env):
    env.reset(task(init=["mkdir -p /work/d && echo one > /work/d/f"], evaluation={"match": "x"}))
    obs = env.step(Action(name="bash", args={"script": "cat /work/d/f; echo oops >&2; exit 3"}))
    assert obs.text == "one\noops\n" and not obs.done


@needs_bwrap
def test_the_working_directory_carries_over_like_a_shell(env):
    env.reset(task(init=["mkdir -p /work/deep/er"], evaluation={"match": "x"}))
    env.step(Action(name="bash", args={"script": "cd deep/er"}))
    assert env.step(Action(name="bash", args={"script": "pwd"})).text == "/work/deep/er\n"


@needs_bwrap
def test_a_failing_init_script_is_an_environment_error(env):
    with pytest.raises(EnvError, match="init script 1 failed"):
        env.reset(task(init=["echo broken >&2; exit 4"], evaluation={"match": "x"}))


@needs_bwrap
def test_the_start_script_keeps_running_in_the_background(env):
    env.reset(task(start="echo started > /work/flag; sleep 60", evaluation={"match": "x"}))
    obs = env.step(
        Action(name="bash", args={"script": "sleep 0.3; cat /work/flag; pgrep -c -f -x 'sleep 60'"})
    )
    assert obs.text == "started\n1\n"


@needs_bwrap
@pytest.mark.parametrize(
    ("spec", "answer", "passed"),
    [
        ("42", " 42 ", True),
        ({"answer": "42"}, "43", False),
        ({"answer": " a ", "strip": False}, " a ", True),
        ({"regex": r"^\d+ files?$"}, "3 files", True),
        ({"regex": r"^\d+$"}, "three", False),
    ],
)
def test_match_evaluations(env, spec, answer, passed):
    env.reset(task(evaluation={"match": spec}))
    obs = env.step(Action(name="answer", args={"answer": answer}))
    assert obs.done and obs.reward == (1.0 if passed else 0.0)


@needs_bwrap
@pytest.mark.parametrize(("answer", "reward", "exits"), [("x", 1.0, [0, 0, 0]), ("y", 0.0, [0, 1])])
def test_a_check_chain_appends_each_scripts_output_and_null_runs_the_example(env, answer, reward, exits):
    argv_is = {
        "language": "python",
        "code": "import sys; print('second'); sys.exit(0 if sys.argv[1:] == ['x', 'x\\n'] else 1)",
    }
    last = {
        "language": "python",
        "code": "import sys; sys.exit(0 if sys.argv[1:] == ['x', 'x\\n', 'second\\n'] else 1)",
    }
    evaluation = {"check": [None, argv_is, last], "example": "cat /work/truth"}
    env.reset(task(init=["echo x > /work/truth"], evaluation=evaluation))
    assert env.step(Action(name="answer", args={"answer": answer})).reward == reward
    assert [c["exit_code"] for c in env.details["checks"]] == exits


@needs_bwrap
def test_a_check_without_an_answer_judges_the_state(env):
    evaluation = {"check": ["test -f /work/made"]}
    env.reset(task(evaluation=evaluation))
    assert env.step(Action(name="finish")).reward == 0.0
    env.reset(task(evaluation=evaluation))
    env.step(Action(name="bash", args={"script": "touch made"}))
    assert env.step(Action(name="finish")).reward == 1.0


@needs_bwrap
def test_a_command_that_hangs_is_killed_and_says_so(env):
    env.reset(task(evaluation={"match": "x"}))
    obs = env.step(Action(name="bash", args={"script": "echo before; sleep 30"}))
    assert obs.text.startswith("before\n") and "killed after 3 s" in obs.text
