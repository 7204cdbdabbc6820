"""Who owns a sandbox resource (container, cgroup, folder), and whether that process still lives.

An owner is a pid plus the kernel's start time of that process, so a recycled pid never looks alive. Every
backend names what it leaves on the host with `owner_tag()`, and removes what dead owners left behind.
"""

from __future__ import annotations

import functools
import os
import socket


def process_start(pid: int) -> str:
    """The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); "" if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@functools.cache
def _tag(pid: int) -> str:
    return f"{pid}.{process_start(pid)}"


def owner_tag() -> str:
    """This process, as `PID.START` (recomputed after a fork)."""
    return _tag(os.getpid())


def host_owner_tag() -> str:
    return f"{socket.gethostname()}:{owner_tag()}"


def alive(tag: str) -> bool:
    """Whether the process named `PID.START` (or `HOST:PID.START`) still runs; other hosts count as alive."""
    host, sep, local = tag.rpartition(":")
    if sep and host != socket.gethostname():
        return True
    pid, _, start = local.partition(".")
    if not pid.isdigit():
        return True  # not one of our names: never reap it
    return process_start(int(pid)) == start
