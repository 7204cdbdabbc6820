"""The command server that lives inside a warm bubblewrap sandbox (stdlib only; run as `python3 -I -S -c`).

One JSON line in (id, argv, timeout, cap, cpu_s, stdin as base64), one JSON line out (id, exit status,
signal, timed_out, the first `cap` bytes of stdout and stderr as base64 and their full sizes). Each command
starts in its own session with its own CPU-seconds limit; at its timeout its whole process group is killed.
Processes it leaves in the background live on (as in a terminal) until the sandbox closes.

The control pipes move to high descriptors that commands never inherit, and the server makes itself
non-dumpable, so a command of the same uid can neither read nor forge the server's replies through
/proc/PID/fd, nor ptrace it. If a command kills the server anyway, the sandbox's pid namespace ends with it
and the host starts a fresh one.
"""

import base64
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time

DRAIN_S = 0.02  # after the command exits, how long output may still trickle in from what it left behind


def hide_control_channel():
    """Keep the host's pipes only on close-on-exec descriptors; 0-2 become /dev/null."""
    ctl_in = os.dup(0)
    ctl_out = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except (OSError, AttributeError):
        pass
    return os.fdopen(ctl_in, "rb"), os.fdopen(ctl_out, "wb")


def limit_cpu(pid, cpu_s):
    """CPU seconds for the new command. Set from outside, just after the spawn, so the spawn stays a fast
    vfork (a preexec hook would force a full fork of this process); the wall-clock timeout and the
    sandbox's cgroup bound whatever the command forks before this lands."""
    if cpu_s:
        try:
            resource.prlimit(pid, resource.RLIMIT_CPU, (cpu_s, cpu_s))
        except OSError:
            pass


def feed(pipe, data):
    try:
        pipe.write(data)
    except OSError:
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def run(req):
    started = time.monotonic()
    cap = int(req.get("cap", 65536))
    stdin = base64.b64decode(req["stdin"]) if req.get("stdin") is not None else None
    proc = subprocess.Popen(
        req["argv"],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    limit_cpu(proc.pid, int(req.get("cpu_s") or 0))
    feeder = None
    if stdin is not None:
        feeder = threading.Thread(target=feed, args=(proc.stdin, stdin), daemon=True)
        feeder.start()
    kept = {1: bytearray(), 2: bytearray()}
    total = {1: 0, 2: 0}
    timed_out = collect(proc, started + float(req["timeout"]), cap, kept, total)
    if feeder is not None:
        feeder.join(timeout=1)
    code = proc.wait()
    return {
        "id": req.get("id"),
        "rc": code if code >= 0 else 128 - code,
        "signal": -code if code < 0 else 0,
        "timed_out": timed_out,
        "out": base64.b64encode(bytes(kept[1])).decode(),
        "err": base64.b64encode(bytes(kept[2])).decode(),
        "out_total": total[1],
        "err_total": total[2],
        "seconds": time.monotonic() - started,
    }


def collect(proc, deadline, cap, kept, total):
    """Read both pipes until they close (or fall quiet once the command has exited) or the deadline."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, 1)
    sel.register(proc.stderr, selectors.EVENT_READ, 2)
    timed_out = False
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                kill_group(proc)
                timed_out = True
                break
            exited = proc.poll() is not None
            events = sel.select(min(deadline - now, DRAIN_S if exited else 0.5))
            if not events and exited:
                break  # the command is gone; something it left behind still holds the pipe
            for key, _ in events:
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                total[key.data] += len(chunk)
                room = cap - len(kept[key.data])
                if room > 0:
                    kept[key.data] += chunk[:room]
        if not timed_out and proc.poll() is None:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(proc)
                timed_out = True
    finally:
        sel.close()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
    return timed_out


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ctl_in, ctl_out = hide_control_channel()
    ctl_out.write(json.dumps({"ready": os.getpid()}).encode() + b"\n")
    ctl_out.flush()
    for line in ctl_in:
        try:
            reply = run(json.loads(line))
        except (
            Exception
        ) as exc:  # a command that cannot start (no such file, bad argv) is a reply, not a crash
            reply = {"id": None, "error": f"{type(exc).__name__}: {exc}"}
            try:
                reply["id"] = json.loads(line).get("id")
            except ValueError:
                pass
        ctl_out.write(json.dumps(reply).encode() + b"\n")
        ctl_out.flush()
    sys.exit(0)


if __name__ == "__main__":
    main()
