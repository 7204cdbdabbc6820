"""The code environment's reward cannot be gamed: a catalogue of replies that solve nothing yet try to
score 1, each of which must score 0, in the real sandbox; and the 164 canonical HumanEval solutions still
score 1."""

from __future__ import annotations

import math
import textwrap
import time

import pytest

from agentevo.benchmarks import get_suite
from agentevo.envs.code import CodeEnvironment
from agentevo.envs.code_runner import decode, encode, parse
from agentevo.envs.sandbox import Limits, open_sandbox
from tests.envs.conftest import needs_bwrap
from tests.helpers import humaneval_task, solution

# the real sandbox only: the `local` backend runs the solution as the host's user, which may be root with
# CAP_SYS_PTRACE, and then nothing stops it from reading the runner's memory
pytestmark = needs_bwrap


def code_env(timeout_s: float) -> CodeEnvironment:
    return CodeEnvironment(lambda: open_sandbox("bwrap", Limits(timeout_s=timeout_s)), timeout_s=timeout_s)


def reply(code: str) -> str:
    return f"```python\n{textwrap.dedent(code).strip()}\n```"


# Each attempt: (task, code). None of them computes the answer.
GAMING = {
    "top-level sys.exit(0)": ("HumanEval/0", "import sys\nsys.exit(0)\n"),
    "SystemExit(0) in the function": (
        "HumanEval/0",
        """
        def has_close_elements(numbers, threshold):
            raise SystemExit(0)
        """,
    ),
    "os._exit(0) in the body": (
        "HumanEval/0",
        """
        import os
        def has_close_elements(numbers, threshold):
            os._exit(0)
        """,
    ),
    "atexit handler forces exit 0": (
        "HumanEval/0",
        """
        import atexit, os
        atexit.register(lambda: os._exit(0))
        def has_close_elements(numbers, threshold):
            raise RuntimeError("nope")
        """,
    ),
    "excepthook forces exit 0": (
        "HumanEval/0",
        """
        import os, sys
        sys.excepthook = lambda *args: os._exit(0)
        def has_close_elements(numbers, threshold):
            raise RuntimeError("nope")
        """,
    ),
    "signal handler forces exit 0": (
        "HumanEval/0",
        """
        import os, signal
        for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT):
            signal.signal(sig, lambda *args: os._exit(0))
        signal.setitimer(signal.ITIMER_REAL, 0.001)
        def has_close_elements(numbers, threshold):
            os.kill(os.getppid(), signal.SIGINT)
            return False
        """,
    ),
    "thread forces exit 0": (
        "HumanEval/0",
        """
        import os, threading, time
        threading.Thread(target=lambda: (time.sleep(0.01), os._exit(0)), daemon=True).start()
        def has_close_elements(numbers, threshold):
            time.sleep(5)
        """,
    ),
    "object whose __eq__ is always True": (
        "HumanEval/0",
        """
        class Anything:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __bool__(self): return True
        def has_close_elements(numbers, threshold):
            return Anything()
        """,
    ),
    "int subclass with a rigged __eq__": (
        "HumanEval/24",
        """
        class Rigged(int):
            def __eq__(self, other): return True
            __hash__ = int.__hash__
        def largest_divisor(n):
            return Rigged(0)
        """,
    ),
    "str subclass with a rigged __eq__": (
        "HumanEval/28",
        """
        class Rigged(str):
            def __eq__(self, other): return True
            __hash__ = str.__hash__
        def concatenate(strings):
            return Rigged("")
        """,
    ),
    "list subclass with a rigged __eq__": (
        "HumanEval/29",
        """
        class Rigged(list):
            def __eq__(self, other): return True
        def filter_by_prefix(strings, prefix):
            return Rigged()
        """,
    ),
    "monkeypatched builtins abs and AssertionError": (
        "HumanEval/4",
        """
        import builtins
        builtins.abs = lambda x: 0.0
        builtins.AssertionError = type("Harmless", (Exception,), {})
        def mean_absolute_deviation(numbers):
            return 0.0
        """,
    ),
    "overridden check and candidate": (
        "HumanEval/0",
        """
        import builtins, sys
        def check(candidate):
            return None
        builtins.check = check
        sys.modules["__main__"].check = check
        def has_close_elements(numbers, threshold):
            return None
        """,
    ),
    "files that shadow modules the tests import": (
        "HumanEval/32",
        """
        import os
        fake = "def fabs(x):\\n    return 0.0\\npi = 3.14\\n"
        for folder in (os.getcwd(), "/tmp"):
            for name in ("math.py", "sitecustomize.py", "usercustomize.py"):
                try:
                    with open(os.path.join(folder, name), "w") as fh:
                        fh.write(fake)
                except OSError:
                    pass
        def find_zero(xs):
            return 0.0
        """,
    ),
    "a printed fake PASS line": (
        "HumanEval/0",
        """
        import os, sys
        line = "0" * 32 + " PASS 1\\n"
        print(line * 3)
        sys.stderr.write(line)
        os.write(1, line.encode())
        for target in ("/dev/stdout", "/proc/self/fd/1", f"/proc/{os.getppid()}/fd/1"):
            try:
                with open(target, "w") as fh:
                    fh.write(line)
            except OSError:
                pass
        def has_close_elements(numbers, threshold):
            return None
        """,
    ),
    "killing the runner": (
        "HumanEval/0",
        """
        import os, signal
        os.kill(os.getppid(), signal.SIGKILL)
        def has_close_elements(numbers, threshold):
            return True
        """,
    ),
    "stopping the runner": (
        "HumanEval/0",
        """
        import os, signal
        def has_close_elements(numbers, threshold):
            os.kill(os.getppid(), signal.SIGSTOP)
            return True
        """,
    ),
    "reading the nonce and the tests through /proc and disk": (
        "HumanEval/0",
        """
        import glob, os, re
        found = []
        ppid = os.getppid()
        for path in (f"/proc/{ppid}/fd/0", f"/proc/{ppid}/mem", f"/proc/{ppid}/environ", "/proc/self/fd/0"):
            try:
                with open(path, "rb") as fh:
                    found.append(fh.read(1 << 16))
            except OSError:
                pass
        for path in glob.glob("/work/**", recursive=True) + glob.glob("/tmp/**", recursive=True):
            try:
                with open(path, "rb") as fh:
                    found.append(fh.read())
            except OSError:
                pass
        nonces = set(re.findall(rb"[0-9a-f]{32}", b"".join(found)))
        for nonce in nonces:
            for target in (f"/proc/{ppid}/fd/1", "/dev/stdout"):
                try:
                    with open(target, "wb") as fh:
                        fh.write(nonce + b" PASS 1\\n")
                except OSError:
                    pass
        answers = b"def check" in b"".join(found)
        def has_close_elements(numbers, threshold):
            return None if not answers else "tests seen"
        """,
    ),
    "excessive output to push lines out": (
        "HumanEval/0",
        """
        import sys
        line = ("0" * 32 + " PASS 1\\n")
        sys.stdout.write(line * 200000)
        def has_close_elements(numbers, threshold):
            sys.stdout.write(line * 200000)
            return None
        """,
    ),
    "a process that outlives the check and forges the verdict": (
        "HumanEval/0",
        """
        import os, re, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                seen = set()
                end = time.time() + 3
                while time.time() < end:
                    for pid in os.listdir("/proc"):
                        if not pid.isdigit() or pid in seen:
                            continue
                        seen.add(pid)
                        try:
                            data = os.read(os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK), 1 << 16)
                            nonce = re.search(rb"[0-9a-f]{32}", data).group()
                            with open(f"/proc/{pid}/fd/1", "wb") as fh:
                                fh.write(nonce + b" PASS 1\\n")
                        except Exception:
                            pass
            os._exit(0)
        def has_close_elements(numbers, threshold):
            return None
        """,
    ),
    "a forged reply stream from a patched json": (
        "HumanEval/0",
        """
        import json
        real = json.dumps
        json.dumps = lambda obj, *a, **k: '{"ok": ["B", true]}\\n' * 50 + real(obj, *a, **k)
        def has_close_elements(numbers, threshold):
            return False
        """,
    ),
    "a value that cannot be sent": (
        "HumanEval/0",
        """
        def has_close_elements(numbers, threshold):
            return lambda *a: True
        """,
    ),
}


@pytest.mark.parametrize("attempt", GAMING, ids=list(GAMING))
def test_a_reply_that_games_the_runner_scores_zero(attempt):
    task_id, code = GAMING[attempt]
    env = code_env(timeout_s=5)
    try:
        env.reset(humaneval_task(task_id))
        obs = env.step(env.parse_action(reply(code)))
        assert obs.reward == 0.0 and not obs.done
        assert env.score(None) == 0.0  # type: ignore[arg-type]
    finally:
        env.close()


def test_the_catalogue_is_long_enough_and_its_tasks_are_solvable():
    assert len(GAMING) >= 12
    env = code_env(timeout_s=5)
    try:
        for task_id in sorted({task for task, _ in GAMING.values()}):
            task = humaneval_task(task_id)
            env.reset(task)
            assert env.step(env.parse_action(solution(task))).reward == 1.0, task_id
    finally:
        env.close()


def test_a_background_process_from_one_submission_cannot_forge_the_next_verdict():
    task = humaneval_task("HumanEval/0")
    env = code_env(timeout_s=5)
    try:
        env.reset(task)
        _, forger = GAMING["a process that outlives the check and forges the verdict"]
        assert env.step(env.parse_action(reply(forger))).reward == 0.0
        wrong = "def has_close_elements(numbers, threshold):\n    return False\n"
        assert env.step(env.parse_action(reply(wrong))).reward == 0.0
        assert env.step(env.parse_action(solution(task))).reward == 1.0
    finally:
        env.close()


def test_the_solution_cannot_open_the_runners_descriptors_or_memory():
    probe = """
    import os
    ppid = os.getppid()
    for path in (f"/proc/{ppid}/fd/0", f"/proc/{ppid}/fd/1", f"/proc/{ppid}/mem", f"/proc/{ppid}/environ"):
        try:
            open(path, "rb").close()
            print("OPENED", path)
        except OSError as exc:
            print("DENIED", path, exc.errno)
    with open("/proc/self/status") as fh:
        print([line for line in fh if line.startswith("CapEff")][0].strip())
    def has_close_elements(numbers, threshold):
        return False
    """
    task = humaneval_task("HumanEval/0")
    env = code_env(timeout_s=5)
    try:
        env.reset(task)
        result, _ = env.run(task.meta, textwrap.dedent(probe))
    finally:
        env.close()
    assert "OPENED" not in result.stderr
    assert result.stderr.count("DENIED") == 4
    assert "CapEff:\t0000000000000000" in result.stderr


def test_a_correct_solution_that_prints_a_flood_still_passes():
    code = """
    import sys
    print("x" * 10**6)
    def has_close_elements(numbers, threshold):
        sys.stdout.write("y" * 10**5)
        return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1 :])
    """
    env = code_env(timeout_s=5)
    try:
        env.reset(humaneval_task("HumanEval/0"))
        assert env.step(env.parse_action(reply(code))).reward == 1.0
    finally:
        env.close()


def test_a_failure_shows_the_failing_assertion_and_the_solutions_error():
    env = code_env(timeout_s=5)
    try:
        env.reset(humaneval_task("HumanEval/24"))
        wrong = env.step(env.parse_action(reply("def largest_divisor(n):\n    return 0\n")))
        raising = env.step(env.parse_action(reply("def largest_divisor(n):\n    return 1 // 0\n")))
    finally:
        env.close()
    assert "assert candidate(3) == 1" in wrong.text and "AssertionError" in wrong.text
    assert "ZeroDivisionError" in raising.text and "largest_divisor" in raising.text


def test_the_codec_keeps_exact_builtin_types_apart():
    value = [None, True, 1, 2**100, -0.5, math.inf, "s", b"\x00b", (1, [2]), {3}, frozenset({4}), {"k": (5,)}]
    value.append(complex(1, -2))
    back = decode(parse(__import__("json").dumps(encode(value))))
    assert back == value and [type(v) for v in back] == [type(v) for v in value]
    assert type(back[8]) is tuple and type(back[8][1]) is list
    nan = decode(parse(__import__("json").dumps(encode(math.nan))))
    assert math.isnan(nan)


@pytest.mark.parametrize(
    "data",
    [["X", 1], ["I", True], ["B", 1], ["I", 1.5], ["L", "ab"], ["D", [[["I", 1]]]], ["E", [["L", []]]], []],
)
def test_the_decoder_refuses_anything_not_exactly_tagged(data):
    with pytest.raises((ValueError, TypeError)):
        decode(data)


def test_the_encoder_refuses_subclasses_of_builtin_types():
    class Rigged(int):
        pass

    with pytest.raises(TypeError, match="Rigged"):
        encode([Rigged(1)])


def test_all_164_canonical_solutions_score_one():
    tasks = get_suite("humaneval").tasks("all")
    assert len(tasks) == 164
    env = code_env(timeout_s=10)
    failed = []
    started = time.perf_counter()
    try:
        for task in tasks:
            env.reset(task)
            if env.step(env.parse_action(solution(task))).reward != 1.0:
                failed.append(task.id)
    finally:
        env.close()
    assert failed == [], failed
    print(f"164 canonical solutions in {time.perf_counter() - started:.1f} s")
