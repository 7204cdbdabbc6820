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
import select
import signal
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
    posix_spawn (a preexec hook would force a full fork of this process); the wall-clock timeout and the
    sandbox's cgroup bound whatever the command forks before this lands."""
    if cpu_s:
        try:
            resource.prlimit(pid, resource.RLIMIT_CPU, (cpu_s, cpu_s))
        except OSError:
            pass


def feed(fd, data):
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass
    finally:
        os.close(fd)


def spawn(argv, with_stdin):
    """posix_spawn in a new session, stdout/stderr (and stdin) on pipes; (pid, stdin fd, out fd, err fd)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if with_stdin else (os.open("/dev/null", os.O_RDONLY), None)
    actions = [
        (os.POSIX_SPAWN_DUP2, in_r, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setsid=True)
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    return pid, in_w, out_r, err_r


def run(req):
    started = time.monotonic()
    cap = int(req.get("cap", 65536))
    stdin = base64.b64decode(req["stdin"]) if req.get("stdin") is not None else None
    try:
        pid, in_w, out_r, err_r = spawn(req["argv"], stdin is not None)
    except OSError as exc:  # no such program, not executable: as a shell reports it
        return {"id": req.get("id"), "error": f"{req['argv'][0]}: {exc.strerror}", "rc": 127}
    limit_cpu(pid, int(req.get("cpu_s") or 0))
    feeder = None
    if stdin is not None:
        feeder = threading.Thread(target=feed, args=(in_w, stdin), daemon=True)
        feeder.start()
    kept = {out_r: bytearray(), err_r: bytearray()}
    total = {out_r: 0, err_r: 0}
    timed_out, status = collect(pid, started + float(req["timeout"]), cap, kept, total)
    if feeder is not None:
        feeder.join(timeout=1)
    code = os.waitstatus_to_exitcode(status)
    return {
        "id": req.get("id"),
        "rc": code if code >= 0 else 128 - code,
        "signal": -code if code < 0 else 0,
        "timed_out": timed_out,
        "out": base64.b64encode(bytes(kept[out_r])).decode(),
        "err": base64.b64encode(bytes(kept[err_r])).decode(),
        "out_total": total[out_r],
        "err_total": total[err_r],
        "seconds": time.monotonic() - started,
    }


def collect(pid, deadline, cap, kept, total):
    """Read both pipes until they close (or fall quiet once the command has exited) and the command has
    exited, or until the deadline; (timed_out, wait status). A pidfd wakes the loop the moment the command
    exits (kernels without one are polled)."""
    poller = select.poll()
    for fd in kept:
        poller.register(fd, select.POLLIN)
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = None
    open_fds, status = set(kept), None
    try:
        while open_fds or status is None:
            now = time.monotonic()
            if now >= deadline:
                break
            if status is not None:
                wait_ms = DRAIN_S * 1000  # gone: what it left behind may still hold the pipes
            else:
                wait_ms = (deadline - now) * 1000 if pidfd is not None else min(deadline - now, 0.01) * 1000
            events = poller.poll(wait_ms)
            if not events and status is not None:
                break
            if pidfd is None and status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                status = st if done else None
            for fd, _ in events:
                if fd == pidfd:
                    status = os.waitpid(pid, 0)[1]
                    poller.unregister(pidfd)
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                total[fd] += len(chunk)
                room = cap - len(kept[fd])
                if room > 0:
                    kept[fd] += chunk[:room]
        timed_out = status is None
        if timed_out:
            kill_group(pid)
            status = os.waitpid(pid, 0)[1]
    finally:
        for fd in kept:
            os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
    return timed_out, status


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
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
