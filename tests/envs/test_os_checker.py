"""The OS environment's checker cannot be edited or pre-empted by the agent's commands: files dropped into
the workdir or the user site do not reach Python checks, checks see a fixed environment, and whatever the
agent left running is gone before the checks start, while the task's own processes survive."""

from __future__ import annotations

import pytest

from agentevo.envs.os import OSEnvironment
from agentevo.envs.sandbox import Limits, open_sandbox
from agentevo.records import Action, Task
from tests.envs.conftest import needs_bwrap

pytestmark = needs_bwrap

EXIT_ZERO = "import os\nos._exit(0)\n"
# a Python check that imports modules the agent may try to shadow, and passes only on the answer 42
PY_CHECK = {
    "language": "python",
    "code": "import json, random, string, sys\nsys.exit(0 if json.loads(sys.argv[1]) == 42 else 1)\n",
}


def task(**meta) -> Task:
    return Task(id="t", suite="os", kind="os", instruction="Do it.", meta=meta)


@pytest.fixture
def env():
    e = OSEnvironment(lambda: open_sandbox("bwrap", Limits(timeout_s=5)), timeout_s=5)
    yield e
    e.close()


def bash(env: OSEnvironment, script: str) -> str:
    return env.step(Action(name="bash", args={"script": script})).text


def answer(env: OSEnvironment, value: str | None) -> float:
    action = Action(name="answer", args={"answer": value}) if value is not None else Action(name="finish")
    obs = env.step(action)
    assert obs.done
    return obs.reward


def test_a_python_check_passes_on_the_right_answer_and_fails_on_a_wrong_one(env):
    env.reset(task(evaluation={"check": [PY_CHECK]}))
    assert answer(env, "41") == 0.0
    env.reset(task(evaluation={"check": [PY_CHECK]}))
    assert answer(env, "42") == 1.0


@pytest.mark.parametrize("folder", ["/work", "/tmp", "/work/sub"])
def test_modules_dropped_where_the_check_runs_do_not_shadow_its_imports(env, folder):
    env.reset(task(evaluation={"check": [PY_CHECK]}))
    shadows = " ".join(f"{folder}/{m}.py" for m in ("json", "random", "string", "sitecustomize"))
    bash(env, f"mkdir -p {folder} && cd {folder} && for f in {shadows}; do printf '{EXIT_ZERO}' > $f; done")
    assert answer(env, "41") == 0.0


def test_a_user_site_customization_does_not_reach_the_check(env):
    env.reset(task(evaluation={"check": [PY_CHECK]}))
    out = bash(
        env,
        'site=$(python3 -m site --user-site) && mkdir -p "$site" && '
        f"printf '{EXIT_ZERO}' > \"$site/usercustomize.py\" && "
        "printf 'import os; os._exit(0)\\n' > \"$site/zzz.pth\" && "
        "python3 -c 'print(1)'; echo rc=$?",
    )
    assert "rc=0" in out and "1\n" not in out  # the customization works on the agent's own python3 …
    assert answer(env, "41") == 0.0  # … and not on the check


def test_checks_run_in_root_with_a_fixed_environment(env):
    probe = (
        'test "$PWD" = / && test "$PATH" = /usr/local/bin:/usr/bin:/bin && test "$HOME" = /nonexistent '
        '&& test -z "$BASH_ENV$PYTHONPATH$PYTHONSTARTUP$LD_PRELOAD$TMPDIR"'
    )
    env.reset(task(evaluation={"check": [probe]}))
    bash(env, "export BASH_ENV=/work/evil PYTHONPATH=/work; echo 'exit 0' > /work/evil")
    assert answer(env, None) == 1.0


def test_a_background_process_cannot_fix_the_state_while_the_check_runs(env):
    # the check looks at the state a moment after it starts; the agent's daemon writes the right state
    # only when it sees a check running, so the state the agent left behind is wrong
    check = 'sleep 0.5; test "$(cat /work/flag)" = yes'
    env.reset(task(init=["echo no > /work/flag"], evaluation={"check": [check]}))
    daemon = (
        'setsid -f bash -c \'while :; do pgrep -f "sleep 0[.]5" >/dev/null && echo yes > /work/flag; '
        "sleep 0.01; done # agent-daemon' >/dev/null 2>&1 </dev/null"
    )
    bash(env, daemon)
    assert bash(env, "sleep 0.2; cat /work/flag; pgrep -c -f 'agent[-]daemon'") == "no\n1\n"
    assert answer(env, None) == 0.0
    assert env.details["agent_processes_stopped"] is True
    assert bash(env, "pgrep -c -f 'agent[-]daemon'; cat /work/flag") == "0\nno\n"


def test_the_tasks_own_processes_survive_while_the_agents_are_stopped(env):
    alive = "test $(pgrep -c -x -f 'sleep 7001') = 2 && test $(pgrep -c -x -f 'sleep 7002') = 0"
    env.reset(
        task(
            init=["for i in 1 2; do setsid -f sleep 7001 >/dev/null 2>&1 </dev/null; done"],
            evaluation={"check": [alive]},
        )
    )
    bash(env, "setsid -f sleep 7002 >/dev/null 2>&1 </dev/null; sleep 7002 &")
    assert bash(env, "sleep 0.2; pgrep -c -x -f 'sleep 7002'") == "2\n"
    assert answer(env, None) == 1.0


LOOP = """import os, subprocess, time
while True:
    if os.fork():
        os._exit(0)
    if subprocess.run(["pgrep", "-f", "test [!] -e"], capture_output=True).returncode == 0:
        open("/work/touched", "w").close()
    time.sleep(0.005)
"""


def test_a_fork_loop_left_behind_is_stopped_before_the_check(env):
    env.reset(task(evaluation={"check": ["sleep 0.3; test ! -e /work/touched"]}))
    # a process that keeps replacing itself with a fresh child, and touches a file once a check runs
    bash(
        env,
        f"cat > /work/loop.py <<'EOF'\n{LOOP}EOF\nsetsid -f python3 /work/loop.py >/dev/null 2>&1 </dev/null",
    )
    assert (
        bash(env, "sleep 0.2; pgrep -f 'loop[.]py' >/dev/null && echo running; ls /work")
        == "running\nloop.py\n"
    )
    assert answer(env, None) == 1.0 and env.details["agent_processes_stopped"] is True
    assert bash(env, "pgrep -c -f 'loop[.]py'") == "0\n"
