"""The docker sandbox image, built here with no registry and tagged by the content hash of its recipe.

    environments/sandbox/recipe.yaml + setup.sh ──hash──► agentevo-sandbox:<12 hex>
    debootstrap --variant=minbase --include=… bookworm rootfs MIRROR      (the Debian mirror: the only source)
    chroot rootfs setup.sh                                                (user, no setuid bits, trimmed)
    tar rootfs | docker import  ──► untagged image ──smoke test──► tag     (a failed build tags nothing)

An existing tag means the recipe was built already, so a second build is a no-op. Builds hold a file lock,
so two processes never build the same recipe at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentevo.assets import environment_dir
from agentevo.config import cache_dir, read_yaml_mapping
from agentevo.errors import ConfigError, ErrorCode, SandboxError
from agentevo.text import first_line

if TYPE_CHECKING:
    import docker

REPOSITORY = "agentevo-sandbox"
BUILDER_VERSION = "1"  # bump when the steps below change what an image holds for the same recipe
RECIPE_FILES = ("recipe.yaml", "setup.sh")
SMOKE_TEST = "import sys, os; print(sys.version_info[0], os.getuid())"

Report = Callable[[str, str], None]  # (stage, detail)


def recipe_dir() -> Path:
    return environment_dir("sandbox", "AGENTEVO_SANDBOX_RECIPE")


@dataclass(frozen=True)
class Recipe:
    suite: str
    variant: str
    mirror: str
    packages: tuple[str, ...]
    user: str
    uid: int
    workdir: str
    files: dict[str, bytes] = field(repr=False)

    @property
    def digest(self) -> str:
        h = hashlib.sha256(f"agentevo-sandbox-builder/{BUILDER_VERSION}\n".encode())
        for name in sorted(self.files):
            h.update(f"{name}\0{len(self.files[name])}\0".encode())
            h.update(self.files[name])
        return h.hexdigest()

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{self.digest[:12]}"


def load_recipe(folder: Path | None = None) -> Recipe:
    folder = folder or recipe_dir()
    missing = [n for n in RECIPE_FILES if not (folder / n).is_file()]
    if missing:
        raise ConfigError(f"sandbox recipe {folder}: missing {', '.join(missing)}")
    data = read_yaml_mapping(folder / "recipe.yaml")
    try:
        recipe = Recipe(
            suite=str(data["suite"]),
            variant=str(data.get("variant", "minbase")),
            mirror=str(data["mirror"]),
            packages=tuple(str(p) for p in data.get("packages") or ()),
            user=str(data["user"]),
            uid=int(data["uid"]),
            workdir=str(data.get("workdir", "/work")),
            files={n: (folder / n).read_bytes() for n in RECIPE_FILES},
        )
    except KeyError as exc:
        raise ConfigError(f"{folder / 'recipe.yaml'}: missing key {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{folder / 'recipe.yaml'}: {exc}") from None
    if not 1000 <= recipe.uid < 2**31 or not recipe.workdir.startswith("/"):
        raise ConfigError(f"{folder / 'recipe.yaml'}: uid must be ≥ 1000 and workdir absolute")
    return recipe


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


@dataclass
class BuildResult:
    tag: str
    built: bool
    seconds: float
    size_mb: float
    image_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "built": self.built,
            "seconds": round(self.seconds, 1),
            "size_mb": round(self.size_mb, 1),
            "image_id": self.image_id,
        }


def build_image(
    client: docker.DockerClient,
    recipe: Recipe | None = None,
    *,
    report: Report = lambda stage, detail: None,
    force: bool = False,
) -> BuildResult:
    """Build the recipe's image unless its tag exists (or `force`)."""
    from filelock import FileLock

    recipe = recipe or load_recipe()
    started = time.monotonic()
    lock_dir = cache_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / "sandbox-build.lock")):
        previous = client.images.get(recipe.tag).id if image_exists(client, recipe.tag) else None
        if previous and not force:
            return summary(client, recipe.tag, built=False, started=started)
        check_build_tools()
        scratch = Path(tempfile.mkdtemp(prefix="agentevo-image-", dir=scratch_dir()))
        try:
            image_id = make_image(client, recipe, scratch, report)
        finally:
            remove_scratch(scratch)
        try:
            smoke_test(client, image_id, recipe, report)
            client.images.get(image_id).tag(*recipe.tag.split(":"))
        except BaseException:
            remove_quietly(client, image_id)
            raise
        if previous and previous != image_id:  # a forced rebuild: the old image lost its tag
            remove_quietly(client, previous, force=False)
        return summary(client, recipe.tag, built=True, started=started)


def make_image(client: docker.DockerClient, recipe: Recipe, scratch: Path, report: Report) -> str:
    rootfs = scratch / "rootfs"
    debootstrap(recipe, rootfs, report)
    run_setup(recipe, rootfs, report)
    tarball = scratch / "rootfs.tar"
    report("pack", "tar of the rootfs")
    run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(tarball), "."], what="tar")
    return import_untagged(client, recipe, tarball, report)


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1].replace("\\040", " ") for line in fh]
    return [p for p in points if p.startswith(prefix)]


def remove_scratch(scratch: Path) -> None:
    """Unmount what debootstrap may have left mounted (proc, sys, a bound /dev) before deleting anything:
    a recursive delete must never reach into a host filesystem."""
    for point in sorted(mounts_under(scratch), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    if mounts_under(scratch):
        raise SandboxError(f"{scratch}: still has mounts after the build; remove it by hand")
    shutil.rmtree(scratch, ignore_errors=True)


def summary(client: docker.DockerClient, tag: str, *, built: bool, started: float) -> BuildResult:
    image = client.images.get(tag)
    return BuildResult(
        tag=tag,
        built=built,
        seconds=time.monotonic() - started,
        size_mb=int(image.attrs.get("Size", 0)) / 2**20,
        image_id=image.id or "",
    )


def scratch_dir() -> str:
    """A real disk for the rootfs (chroot needs device nodes and a filesystem that keeps ownership)."""
    return "/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir()


def check_build_tools() -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            "building the sandbox image needs root (debootstrap and chroot); run `agentevo sandbox build` "
            "as root",
            ErrorCode.UNAVAILABLE,
        )
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise SandboxError(f"building the sandbox image needs {tool} (apt-get install debootstrap)")


def debootstrap(recipe: Recipe, rootfs: Path, report: Report) -> None:
    packages = cache_dir() / "debootstrap"
    packages.mkdir(parents=True, exist_ok=True)
    argv = [
        "debootstrap",
        f"--variant={recipe.variant}",
        f"--cache-dir={packages}",
        *([f"--include={','.join(recipe.packages)}"] if recipe.packages else []),
        recipe.suite,
        str(rootfs),
        recipe.mirror,
    ]
    report("debootstrap", f"{recipe.suite} from {recipe.mirror}")
    run(argv, on_line=lambda line: report("debootstrap", line), what="debootstrap")


def run_setup(recipe: Recipe, rootfs: Path, report: Report) -> None:
    report("setup", "setup.sh in the rootfs")
    script = rootfs / "agentevo-setup.sh"
    script.write_bytes(recipe.files["setup.sh"])
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "SANDBOX_USER": recipe.user,
        "SANDBOX_UID": str(recipe.uid),
        "SANDBOX_WORKDIR": recipe.workdir,
        "LANG": "C.UTF-8",
    }
    try:
        run(["chroot", str(rootfs), "/bin/sh", "/agentevo-setup.sh"], env=env, what="setup.sh")
    finally:
        script.unlink(missing_ok=True)


def import_untagged(client: docker.DockerClient, recipe: Recipe, tarball: Path, report: Report) -> str:
    report("import", f"docker import ({tarball.stat().st_size / 2**20:.0f} MB)")
    changes = [
        f"USER {recipe.user}",
        f"WORKDIR {recipe.workdir}",
        "ENV PATH=/usr/local/bin:/usr/bin:/bin",
        "ENV LANG=C.UTF-8",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        f"ENV HOME={recipe.workdir}",
        f"LABEL agentevo.recipe={recipe.digest}",
        'CMD ["/bin/sh"]',
    ]
    reply = client.api.import_image_from_file(str(tarball), changes=changes)
    image_id = ""
    for line in str(reply).splitlines():
        try:
            status = json.loads(line).get("status", "")
        except json.JSONDecodeError:
            continue
        if status.startswith("sha256:"):
            image_id = status
    if not image_id:
        raise SandboxError(f"docker import gave no image id ({str(reply)[:200]})")
    return image_id


def smoke_test(client: docker.DockerClient, image_id: str, recipe: Recipe, report: Report) -> None:
    """The new image runs python3 as the recipe's user with no network; else it is removed, untagged."""
    import docker.errors

    report("test", "python3 in a container")
    container = None
    try:
        container = client.containers.create(
            image_id, ["python3", "-c", SMOKE_TEST], network_mode="none", user=f"{recipe.uid}:{recipe.uid}"
        )
        container.start()
        container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=True)
    except docker.errors.DockerException as exc:
        raise SandboxError(f"the built image failed its smoke test: {first_line(exc, 200)}") from None
    finally:
        if container is not None:
            container.remove(force=True)
    got = output.decode(errors="replace").split()
    if got != ["3", str(recipe.uid)]:
        raise SandboxError(f"the built image failed its smoke test (printed {output[:200]!r})")


def remove_quietly(client: docker.DockerClient, image_id: str, *, force: bool = True) -> None:
    try:
        client.images.remove(image_id, force=force)
    except Exception:  # the build already failed; report that, not the cleanup
        pass


def run(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    what: str = "",
) -> None:
    """Run a build step; its last lines become the error when it fails."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, errors="replace"
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-7:], line]
        if on_line is not None and line:
            on_line(line)
    if proc.wait() != 0:
        raise SandboxError(f"{what or argv[0]} failed (exit {proc.returncode}): {' | '.join(tail[-4:])}")
