"""The docker backend: one warm, locked-down container per sandbox; every command is a `docker exec`.

The container runs the image `agentevo sandbox build` made, as its non-root user, with no network, a
read-only root, size-limited tmpfs at /work and /tmp, memory (processes + tmpfs), CPU and pids limits,
rlimits (cpu seconds, file size, data segment), every capability dropped and no-new-privileges.

No orphans: the container's main process (under docker's init) only reads its stdin, and the sandbox holds
the attach socket with `stdin_once`, so when the Python process dies for any reason the engine closes that
stdin, the container stops, and `auto_remove` deletes it. Containers are also labelled with their owner
(host, pid, start time of that pid); the first sandbox of every process removes the ones whose owner is gone.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentevo.envs.sandbox.base import Limits, inside_workdir
from agentevo.envs.sandbox.image import Recipe, image_exists, load_recipe
from agentevo.envs.sandbox.owner import alive, host_owner_tag
from agentevo.envs.sandbox.process import killed_by
from agentevo.errors import AgentevoError, ErrorCode, SandboxError
from agentevo.records import ExecResult
from agentevo.text import first_line

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

LABEL = "agentevo.sandbox"
OWNER = "agentevo.owner"
KILL_GRACE_S = 2.0  # past the command's own timeout, the host stops waiting and replaces the container
READ_FILE_CAP = 256 * 2**20
NOT_STARTED = "not started"
RESTARTED = (
    "[agentevo: the sandbox container had ended, so a fresh one was started; files in /work were lost]\n"
)


def client(timeout: float = 30.0) -> docker.DockerClient:
    import docker

    try:
        return docker.from_env(timeout=timeout)
    except docker.errors.DockerException as exc:
        raise SandboxError(
            f"no Docker engine answers ({first_line(exc, 200)})", ErrorCode.UNAVAILABLE
        ) from None


def engine_answers() -> bool:
    try:
        c = client(timeout=3)
        try:
            return bool(c.ping())
        finally:
            c.close()
    except Exception:  # any failure to reach the engine means "not available"
        return False


def available() -> bool:
    """An engine answers and the image of the current recipe is built (`agentevo sandbox build`)."""
    try:
        recipe = load_recipe()
        c = client(timeout=3)
    except AgentevoError:
        return False
    try:
        return bool(c.ping()) and image_exists(c, recipe.tag)
    except Exception:  # an engine that does not answer properly is not available
        return False
    finally:
        c.close()


# --- ownership and orphan reaping ---------------------------------------------------------------------


def sandbox_containers(c: docker.DockerClient, label: str = LABEL) -> list[dict[str, Any]]:
    """Sandbox containers as the engine lists them (Id, Labels, State): one call, no per-container
    lookups that could race with auto-removal."""
    return c.api.containers(all=True, filters={"label": label})


def reap_orphans(c: docker.DockerClient) -> list[str]:
    """Remove sandbox containers whose owning process is gone (it crashed before it could close them)."""
    import docker

    removed = []
    for info in sandbox_containers(c):
        if alive((info.get("Labels") or {}).get(OWNER, "")):
            continue
        try:
            c.api.remove_container(info["Id"], force=True)
            removed.append(info["Id"][:12])
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:  # already being removed
            log.debug("reaping %s: %s", info["Id"][:12], exc)
    if removed:
        log.info("removed %d orphaned sandbox container(s): %s", len(removed), ", ".join(removed))
    return removed


_reaped = threading.Event()


def reap_once(c: docker.DockerClient) -> None:
    if not _reaped.is_set():
        _reaped.set()
        reap_orphans(c)


def own_containers(c: docker.DockerClient) -> list[str]:
    """Ids of the sandbox containers this process owns."""
    return [info["Id"] for info in sandbox_containers(c, f"{OWNER}={host_owner_tag()}")]


# --- the sandbox ----------------------------------------------------------------------------------------


def container_config(recipe: Recipe, limits: Limits) -> tuple[dict[str, Any], dict[str, Any]]:
    """Arguments of the engine's create call and of its host config."""
    from docker.types import Ulimit

    mb = 2**20
    # exec: docker mounts tmpfs noexec by default, and agents run the scripts they write
    tmpfs = (
        f"rw,exec,nosuid,nodev,size={limits.disk_mb}m,nr_inodes={limits.disk_mb * 256},"
        f"uid={recipe.uid},gid={recipe.uid},mode=0700"
    )
    create = {
        "image": recipe.tag,
        "command": ["/bin/sh", "-c", "exec cat >/dev/null"],
        "stdin_open": True,
        "detach": False,  # with stdin_open: StdinOnce, the engine closes stdin when our attach ends
        "user": f"{recipe.uid}:{recipe.uid}",
        "working_dir": recipe.workdir,
        "hostname": "sandbox",
        "network_disabled": not limits.network,
        "labels": {LABEL: "1", OWNER: host_owner_tag()},
    }
    host = {
        "init": True,
        "auto_remove": True,
        "network_mode": "bridge" if limits.network else "none",
        "read_only": True,
        "tmpfs": {recipe.workdir: tmpfs, "/tmp": tmpfs.replace("mode=0700", "mode=1777")},
        "shm_size": f"{min(limits.disk_mb, 64)}m",
        # tmpfs pages are charged to the container's memory cgroup, so the limit covers both
        "mem_limit": (limits.memory_mb + limits.disk_mb) * mb,
        "memswap_limit": (limits.memory_mb + limits.disk_mb) * mb,
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "ulimits": [
            Ulimit(name="cpu", soft=limits.cpu_s, hard=limits.cpu_s),
            Ulimit(name="fsize", soft=limits.file_size_mb * mb, hard=limits.file_size_mb * mb),
            Ulimit(name="data", soft=limits.memory_mb * mb, hard=limits.memory_mb * mb),
            Ulimit(name="core", soft=0, hard=0),
        ],
    }
    return create, host


class DockerSandbox:
    name = "docker"

    def __init__(self, limits: Limits | None = None, *, recipe: Recipe | None = None) -> None:
        import docker

        self.limits = limits or Limits()
        self.recipe = recipe or load_recipe()
        self.workdir = self.recipe.workdir
        self.client = client()
        self.closed = False
        self.lock = threading.Lock()
        self.container: Any = None
        self.life: Any = None
        try:
            reap_once(self.client)
            if not image_exists(self.client, self.recipe.tag):
                raise SandboxError(
                    f"the sandbox image {self.recipe.tag} is not built: run `agentevo sandbox build`",
                    ErrorCode.UNAVAILABLE,
                )
            self.start()
        except docker.errors.DockerException as exc:
            self.close()
            raise SandboxError(f"docker: cannot start a sandbox container ({first_line(exc, 200)})") from None
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        """Create the container, hold its stdin (the life line), start it."""
        api = self.client.api
        create, host = container_config(self.recipe, self.limits)
        created = api.create_container(**create, host_config=api.create_host_config(**host))
        self.container = self.client.containers.get(created["Id"])
        self.life = self.container.attach_socket(params={"stdin": 1, "stream": 1})
        self.container.start()

    @property
    def id(self) -> str:
        return self.container.id if self.container is not None else ""

    # --- commands ---------------------------------------------------------------------------------------
    def exec(
        self, command: str | Sequence[str], *, timeout_s: float | None = None, stdin: bytes | None = None
    ) -> ExecResult:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        timeout = timeout_s or self.limits.timeout_s
        with self.lock:
            note = ""
            result = self.run(argv, timeout=timeout, stdin=stdin, cap=self.limits.output_bytes)
            if result.killed == NOT_STARTED:
                # the container had ended (a command killed its main process): the command never ran, so
                # it runs again in a fresh container
                note = self.revive()
                result = self.run(argv, timeout=timeout, stdin=stdin, cap=self.limits.output_bytes)
        if note:
            result = result.model_copy(update={"stderr": note + result.stderr})
        return result

    def run(self, argv: list[str], *, timeout: float, stdin: bytes | None, cap: int) -> ExecResult:
        import docker

        if self.closed:
            raise SandboxError("sandbox is closed", ErrorCode.UNAVAILABLE)
        started = time.perf_counter()
        wrapped = ["timeout", "-s", "KILL", f"{timeout:.3f}s", *argv]
        try:
            exec_id = self.client.api.exec_create(
                self.container.id, wrapped, stdin=stdin is not None, workdir=self.workdir
            )["Id"]
            sock = self.client.api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as exc:
            if not self.running():  # the container went while the exec started: the command never ran
                return ExecResult(stderr=first_line(exc, 200), exit_code=126, killed=NOT_STARTED)
            raise SandboxError(f"docker exec failed ({first_line(exc, 200)})") from None
        except docker.errors.DockerException as exc:
            raise SandboxError(f"docker exec failed ({first_line(exc, 200)})") from None
        raw = getattr(sock, "_sock", sock)
        try:
            if stdin is not None:
                threading.Thread(target=send_stdin, args=(raw, stdin), daemon=True).start()
            out, err, finished = read_frames(raw, deadline=time.monotonic() + timeout + KILL_GRACE_S, cap=cap)
        finally:
            sock.close()
        seconds = time.perf_counter() - started
        if not finished:  # the command evaded its timeout (stopped its watchdog): replace the container
            self.replace()
            return ExecResult(
                stdout=out.text(), stderr=err.text(), exit_code=137, timed_out=True, killed="timeout",
                truncated=out.truncated or err.truncated, seconds=seconds,
            )  # fmt: skip
        code = self.exit_code(exec_id)
        if code is None:
            return ExecResult(stderr=err.text(), exit_code=126, killed=NOT_STARTED, seconds=seconds)
        timed_out = code == 137 and seconds >= timeout - 0.05
        return ExecResult(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=code,
            timed_out=timed_out,
            killed="timeout" if timed_out else killed_by(code),
            truncated=out.truncated or err.truncated,
            seconds=seconds,
        )

    def exit_code(self, exec_id: str) -> int | None:
        """The exec's exit status; None when it never started (its container was gone)."""
        import docker

        for _ in range(200):
            try:
                info = self.client.api.exec_inspect(exec_id)
            except docker.errors.NotFound:  # the container went (and took its execs) as the command ended
                return 137
            if not info.get("Running"):
                if not info.get("Pid"):
                    return None
                code = info.get("ExitCode")
                return int(code) if code is not None else 137
            time.sleep(0.005)
        return 137

    def revive(self) -> str:
        """A command may have ended the container (killed its main process): start a fresh one."""
        if self.running():
            return ""
        self.replace()
        return RESTARTED

    def running(self) -> bool:
        import docker

        try:
            self.container.reload()
        except docker.errors.NotFound:
            return False
        return self.container.status == "running"

    def replace(self) -> None:
        self.remove_container()
        self.start()

    # --- files ------------------------------------------------------------------------------------------
    def write_file(self, path: str, data: bytes | str) -> None:
        target = f"{self.workdir}/{inside_workdir(path, self.workdir)}"
        payload = data.encode() if isinstance(data, str) else data
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
        with self.lock:
            result = self.run(["/bin/sh", "-c", script, "sh", target], timeout=60, stdin=payload, cap=4096)
        if not result.ok:
            raise SandboxError(f"{path}: cannot write ({result.stderr.strip()[:200]})", ErrorCode.IO)

    def read_file(self, path: str) -> bytes:
        target = f"{self.workdir}/{inside_workdir(path, self.workdir)}"
        with self.lock:
            result = self.run(["base64", "-w0", "--", target], timeout=60, stdin=None, cap=READ_FILE_CAP)
        if not result.ok:
            raise SandboxError(f"{path}: cannot read ({result.stderr.strip()[:200]})", ErrorCode.IO)
        import base64

        return base64.b64decode(result.stdout)

    # --- teardown ---------------------------------------------------------------------------------------
    def remove_container(self) -> None:
        import docker

        if self.life is not None:
            try:
                self.life.close()
            except OSError:
                pass
            self.life = None
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:  # auto-remove got there first
                if exc.status_code != 409:
                    raise
            self.container = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.remove_container()
        finally:
            self.client.close()


# --- the exec stream ------------------------------------------------------------------------------------


class Capped:
    """Keeps the first `cap` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)


def send_stdin(raw: socket.socket, data: bytes) -> None:
    try:
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def read_frames(raw: socket.socket, *, deadline: float, cap: int) -> tuple[Capped, Capped, bool]:
    """Demultiplex docker's stream (8-byte headers: stream, 0, 0, 0, size) until EOF or the deadline."""
    out, err = Capped(cap), Capped(cap)
    buf = bytearray()
    need: tuple[int, int] | None = None  # (stream, size) of the frame being read
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return out, err, False
        raw.settimeout(remaining)
        try:
            chunk = raw.recv(262144)
        except TimeoutError:
            return out, err, False
        except OSError:
            return out, err, True
        if not chunk:
            return out, err, True
        buf += chunk
        while True:
            if need is None:
                if len(buf) < 8:
                    break
                stream, size = buf[0], struct.unpack(">I", bytes(buf[4:8]))[0]
                del buf[:8]
                need = (stream, size)
            stream, size = need
            take = min(size, len(buf))
            if take:
                (err if stream == 2 else out).add(bytes(buf[:take]))
                del buf[:take]
            if take == size:
                need = None
            else:
                need = (stream, size - take)
                break
