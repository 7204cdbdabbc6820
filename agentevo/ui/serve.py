"""Running the workbench: in the foreground for the CLI, or in a thread (tests, benchmarks) with the bound
port known before the first request."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentevo.errors import ConfigError
from agentevo.ui.workbench import Workbench


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@dataclass
class Running:
    """A workbench served from a thread; stop() ends it and closes its stores."""

    url: str
    workbench: Workbench
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout=10)
        self.workbench.close()


def make_server(workbench: Workbench, host: str) -> object:
    import uvicorn

    from agentevo.ui.app import create_app

    config = uvicorn.Config(
        create_app(workbench, host), log_level="warning", timeout_graceful_shutdown=1, lifespan="off"
    )
    return uvicorn.Server(config)


def serve(
    workspace: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    read_only: bool = False,
    announce: Callable[[str], None] = print,
) -> None:
    workbench = Workbench(workspace, read_only=read_only)
    sock = bind(host, port)
    server = make_server(workbench, host)
    announce(url_of(host, sock.getsockname()[1]) + (" (read-only)" if read_only else ""))
    try:
        server.run(sockets=[sock])  # type: ignore[attr-defined]
    finally:
        workbench.close()


def start(workspace: Path, *, host: str = "127.0.0.1", port: int = 0, read_only: bool = False) -> Running:
    """The workbench in a background thread, listening once this returns."""
    workbench = Workbench(workspace, read_only=read_only)
    sock = bind(host, port)
    server = make_server(workbench, host)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    return Running(url_of(host, sock.getsockname()[1]), workbench, server, thread)
