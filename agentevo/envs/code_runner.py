"""The trusted test runner of the code environment (stdlib only; run as `python3 -I -c <this file's text>`).

`python3 -I -c RUNNER SOLUTION_FILE ENTRY_POINT`, with a JSON object on stdin: `nonce`, `prompt`, `tests`.

The solution is untrusted; the tests and the verdict are not allowed to depend on anything it can touch:

1. The runner makes itself non-dumpable (no same-uid process without CAP_SYS_PTRACE may ptrace it or open
   its /proc/PID/fd, mem or environ), then forks the solution's process FIRST, before it has read anything
   secret: the child's memory holds neither the nonce nor the tests.
2. The child puts /dev/null on its stdin and its stderr on its stdout, so it holds no handle on the
   runner's stdin (nonce, tests) or stdout (the verdict); only then does it run the solution file and
   serve calls of the entry point over a pipe pair, each result encoded as tagged JSON of exact builtin
   types (None, bool, int, float with nan/inf, complex, str, bytes, list, tuple, set, frozenset, dict).
3. The runner reads the nonce and the tests from its stdin (never from disk), runs the trusted prompt
   (helpers such as `poly`) and the tests in its own namespace, and calls `check` with a proxy that sends
   each call to the child and decodes the reply strictly. A child that died, hung up, sent garbage or a
   value of another type fails the test that called it.
4. Only when `check` returned normally and called the proxy at least once does the runner end the child
   and print `<nonce> PASS <calls>` on its stdout. The host looks for that exact line; exit codes mean
   nothing (a solution can make any process exit 0).
"""

import base64
import ctypes
import json
import linecache
import os
import signal
import sys
import traceback
from collections import Counter, OrderedDict, defaultdict

MAX_REPLY = 32 * 2**20  # bytes of one encoded value
MAX_DEPTH = 200
PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3
DICTS = (dict, OrderedDict, defaultdict, Counter)  # sent as a plain dict (their items are data)


class SolutionFailed(Exception):
    """The solution's call raised, returned something that is not plain data, or its process went away."""


# --- the codec: tagged JSON, exact builtin types only -------------------------------------------------


def encode(value, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("the value is nested too deeply")
    kind = type(value)
    if value is None:
        return ["N"]
    if kind is bool:
        return ["B", value]
    if kind is int:
        return ["I", value]
    if kind is float:
        return ["F", value.hex()]
    if kind is complex:
        return ["C", value.real.hex(), value.imag.hex()]
    if kind is str:
        return ["S", value]
    if kind is bytes:
        return ["Y", base64.b64encode(value).decode()]
    if kind in (list, tuple, set, frozenset):
        tag = {list: "L", tuple: "T", set: "E", frozenset: "G"}[kind]
        return [tag, [encode(item, depth + 1) for item in value]]
    if kind in DICTS:
        return ["D", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]]
    raise TypeError(
        f"the solution returned a value of type {kind.__module__}.{kind.__qualname__}; return plain "
        "builtin values (None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict)"
    )


def decode(data, depth=0):
    """The value a tagged-JSON tree stands for; ValueError for anything not exactly of that shape."""
    if depth > MAX_DEPTH:
        raise ValueError("the value is nested too deeply")
    if type(data) is not list or not data or type(data[0]) is not str:
        raise ValueError("malformed value")
    tag, rest = data[0], data[1:]
    if tag == "N" and not rest:
        return None
    if len(rest) == 1:
        (item,) = rest
        if tag == "B" and type(item) is bool:
            return item
        if tag == "I" and type(item) is int:
            return item
        if tag == "F" and type(item) is str:
            return float.fromhex(item)
        if tag == "S" and type(item) is str:
            return item
        if tag == "Y" and type(item) is str:
            return base64.b64decode(item.encode("ascii"), validate=True)
        if tag in ("L", "T", "E", "G") and type(item) is list:
            items = [decode(x, depth + 1) for x in item]
            return {"L": list, "T": tuple, "E": set, "G": frozenset}[tag](items)
        if tag == "D" and type(item) is list:
            out = {}
            for pair in item:
                if type(pair) is not list or len(pair) != 2:
                    raise ValueError("malformed dict")
                out[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
            return out
    if tag == "C" and len(rest) == 2 and all(type(x) is str for x in rest):
        return complex(float.fromhex(rest[0]), float.fromhex(rest[1]))
    raise ValueError(f"malformed value (tag {tag[:8]!r})")


def reject_constant(name):
    raise ValueError(f"bare {name} in a reply")


def parse(line):
    return json.loads(line, parse_constant=reject_constant)


# --- the solution's side (untrusted once the solution runs) ---------------------------------------------


def flush_output():
    """What the solution printed reaches stderr before its reply: the runner kills it once the tests end."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def child(req_r, resp_w, path, entry):
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # the solution's prints land in stderr; it keeps no handle on the verdict's stdout
    requests = os.fdopen(req_r, "rb")
    replies = os.fdopen(resp_w, "wb")
    fn, problem = None, None
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        namespace = {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
        exec(compile(source, path, "exec"), namespace)
        fn = namespace.get(entry)
        if not callable(fn):
            problem = f"the solution defines no function {entry}()"
    except SystemExit as exc:
        problem = f"the solution called exit ({exc.code!r}) while it was being loaded"
    except BaseException:
        problem = "the solution failed while it was being loaded:\n" + traceback.format_exc()
    flush_output()
    for line in requests:
        try:
            if problem is not None:
                raise SolutionFailed(problem)
            args = decode(parse(line))
            result = fn(*args)
            reply = {"ok": encode(result)}
        except SystemExit as exc:
            reply = {"error": f"the solution called exit ({exc.code!r}) instead of returning"}
        except SolutionFailed as exc:
            reply = {"error": str(exc)}
        except BaseException:
            reply = {"error": traceback.format_exc()}
        flush_output()
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()
    os._exit(0)


# --- the trusted side -----------------------------------------------------------------------------------


class Proxy:
    """Stands in for the entry point inside the tests: each call goes to the solution's process."""

    def __init__(self, name, pid, req_w, resp_r):
        self.__name__ = self.__qualname__ = name
        self.pid = pid
        self.requests = os.fdopen(req_w, "wb")
        self.replies = os.fdopen(resp_r, "rb")
        self.calls = 0

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError("the tests called the solution with keyword arguments (not supported)")
        self.calls += 1
        try:
            self.requests.write(json.dumps(encode(list(args))).encode() + b"\n")
            self.requests.flush()
        except OSError:
            raise SolutionFailed("the solution's process is gone (it exited or was killed)") from None
        line = self.replies.readline(MAX_REPLY + 1)
        if not line.endswith(b"\n"):
            if len(line) > MAX_REPLY:
                raise SolutionFailed(f"the solution's reply is larger than {MAX_REPLY} bytes")
            raise SolutionFailed("the solution's process ended before it answered (did it call exit?)")
        try:
            reply = parse(line)
            if type(reply) is not dict or len(reply) != 1:
                raise ValueError("malformed reply")
            if "error" in reply and type(reply["error"]) is str:
                error = reply["error"]
            else:
                return decode(reply["ok"])
        except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
            raise SolutionFailed(f"the solution's reply could not be read: {exc}") from None
        raise SolutionFailed(error)


def not_dumpable():
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 and libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


def tests_traceback(exc):
    """The failure as the agent should see it: frames of the tests, then what went wrong."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if f.filename in ("<tests>", "<prompt>")]
    )
    return "".join(te.format())


def remember(name, source):
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)


def main():
    if not not_dumpable():
        sys.stderr.write("agentevo runner: cannot make itself non-dumpable; no verdict\n")
        return 2
    path, entry = sys.argv[1], sys.argv[2]
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(req_w)
        os.close(resp_r)
        try:
            child(req_r, resp_w, path, entry)
        finally:
            os._exit(1)
    os.close(req_r)
    os.close(resp_w)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    job = json.loads(sys.stdin.buffer.read())
    nonce = job["nonce"]
    proxy = Proxy(entry, pid, req_w, resp_r)
    namespace = {"__name__": "__check__", "__builtins__": __builtins__}
    try:
        for name, source in (("<prompt>", job["prompt"]), ("<tests>", job["tests"])):
            remember(name, source)
            exec(compile(source, name, "exec"), namespace)
        namespace[entry] = proxy
        namespace["check"](proxy)
    except Exception as exc:
        sys.stderr.write(tests_traceback(exc))
        return 1
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if proxy.calls == 0:
        sys.stderr.write("the tests never called the solution\n")
        return 1
    sys.stdout.write(f"{nonce} PASS {proxy.calls}\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
