"""A peft LoRA adapter for the embedded model, converted into the GGUF form llama.cpp loads (`lora_path=`).

peft keeps `lora_A` (rank × in) and `lora_B` (out × rank) per adapted linear layer, named after the
Hugging Face module; llama.cpp wants them as `<base tensor>.lora_a` / `.lora_b` beside the metadata
general.type=adapter, adapter.type=lora and adapter.lora.alpha. llama.cpp then scales B·A by alpha / rank,
like peft without rsLoRA.

One detail decides whether the result is right: the HF→GGUF conversion of a llama model reorders the rows of
q_proj and k_proj within each head (GGUF rope pairs dimension i with i + 1, HF pairs i with i + head_dim/2).
The base GGUF holds the reordered matrices, so the adapter's contribution B·A must be reordered the same way:
lora_b of q (with n_head heads) and of k (with n_kv_head heads) gets the row permutation; lora_a is unchanged.

`gguf_adapter(DIR)` converts once per adapter content (the folder's sha256, as the response cache keys on)
into the agentevo cache, atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from agentevo.config import cache_dir
from agentevo.errors import ConfigError
from agentevo.models.digest import adapter_digest

log = logging.getLogger(__name__)

ARCH = "llama"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PEFT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<side>[AB])\.weight$")
# peft options whose effect llama.cpp's plain LoRA (W + alpha/r · B·A) cannot express
UNSUPPORTED = {
    "use_rslora": "rsLoRA (scaling alpha/sqrt(r))",
    "use_dora": "DoRA",
    "alpha_pattern": "per-module alpha (alpha_pattern)",
    "modules_to_save": "fully trained modules (modules_to_save)",
    "trainable_token_indices": "trained token embeddings (trainable_token_indices)",
    "layer_replication": "layer replication",
    "lora_bias": "LoRA biases (lora_bias)",
    "fan_in_fan_out": "fan_in_fan_out weights",
    "alora_invocation_tokens": "activated LoRA (alora_invocation_tokens)",
    "target_parameters": "LoRA on parameters (target_parameters)",
}
# peft variants that change the forward pass, named only by their option
VARIANTS = ("use_qalora", "use_bdlora", "arrow_config", "kasa_config", "velora_config", "monteclora_config")


@dataclass(frozen=True)
class BaseShape:
    """What the conversion needs to know of the base GGUF: its tensors' shapes (rows = out, cols = in) and
    the head counts the q/k permutation uses."""

    tensors: dict[str, tuple[int, int]]
    n_blocks: int
    n_head: int
    n_kv_head: int


@functools.lru_cache(maxsize=2)
def read_base(path: Path) -> BaseShape:
    """Read once per process (parsing the base GGUF's metadata takes ~2 s)."""
    import gguf

    reader = gguf.GGUFReader(path)

    def field(key: str) -> Any:
        f = reader.get_field(key)
        if f is None:
            raise ConfigError(f"{path.name}: base GGUF has no {key}")
        return f.contents()

    if field("general.architecture") != ARCH:
        raise ConfigError(f"{path.name}: base GGUF is not a {ARCH} model")
    tensors = {t.name: (int(t.shape[-1]), int(t.shape[0])) for t in reader.tensors if len(t.shape) == 2}
    return BaseShape(
        tensors=tensors,
        n_blocks=int(field(f"{ARCH}.block_count")),
        n_head=int(field(f"{ARCH}.attention.head_count")),
        n_kv_head=int(field(f"{ARCH}.attention.head_count_kv")),
    )


def rope_rows(matrix: Any, heads: int) -> Any:
    """Rows of a q/k projection (or of its lora_b) from HF order into GGUF order: within each head, the
    first and second halves interleave (row i of the first half, then row i of the second)."""
    rows = matrix.shape[0]
    if rows % (2 * heads):
        raise ConfigError(f"{rows} rows do not split into {heads} heads of rotary pairs")
    paired = matrix.reshape(heads, 2, rows // heads // 2, *matrix.shape[1:])
    return paired.swapaxes(1, 2).reshape(matrix.shape)


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: not a LoRA adapter folder (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a peft adapter config (a JSON object)")
    if config.get("peft_type", "LORA") != "LORA":
        raise ConfigError(f"{path}: not a LoRA adapter (peft_type {config['peft_type']!r})")
    for key, what in UNSUPPORTED.items():
        if config.get(key):
            raise ConfigError(f"{folder}: {what} cannot be converted for llama.cpp; train a plain LoRA")
    for key in VARIANTS:
        if config.get(key):
            raise ConfigError(f"{folder}: the peft variant {key} cannot be converted for llama.cpp")
    if config.get("bias", "none") != "none":
        raise ConfigError(
            f"{folder}: trained biases (bias={config['bias']!r}) cannot be converted for llama.cpp"
        )
    alpha = config.get("lora_alpha")
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or alpha <= 0:
        raise ConfigError(f"{path}: lora_alpha must be a positive number, not {alpha!r}")
    return config


def read_weights(folder: Path) -> dict[str, Any]:
    """The adapter's tensors as float32 numpy arrays (peft may save bf16, which numpy cannot hold)."""
    from safetensors import SafetensorError, safe_open

    path = folder / WEIGHTS_FILE
    if not path.is_file():
        found = "adapter_model.bin (pickle, not read here)" if (folder / "adapter_model.bin").exists() else ""
        raise ConfigError(f"{folder}: no {WEIGHTS_FILE}" + (f"; found {found}" if found else ""))
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k).float().numpy() for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None


def lora_tensors(folder: Path, base: BaseShape) -> dict[str, Any]:
    """GGUF name -> float32 array, checked against the base model's tensors and permuted where rope needs."""
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, base.n_blocks)
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in read_weights(folder).items():
        m = PEFT_KEY.match(key)
        if m is None:
            raise ConfigError(f"{folder}: tensor {key!r} is not a LoRA A/B weight of a linear layer")
        pairs.setdefault(m["module"], {})[m["side"]] = value
    if not pairs:
        raise ConfigError(f"{folder}: {WEIGHTS_FILE} holds no LoRA weights")
    out: dict[str, Any] = {}
    for module, sides in sorted(pairs.items()):
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None or target not in base.tensors:
            raise ConfigError(f"{folder}: adapted module {module!r} has no tensor in the base model")
        if set(sides) != {"A", "B"}:
            raise ConfigError(f"{folder}: {module} has lora_{''.join(sides)} but not both A and B")
        a, b = sides["A"], sides["B"]
        rows, cols = base.tensors[target]
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != cols or b.shape[0] != rows or a.shape[0] != b.shape[1]:
            raise ConfigError(
                f"{folder}: {module} lora_A {tuple(a.shape)} × lora_B {tuple(b.shape)} does not fit the "
                f"base tensor {target} ({rows} × {cols}); the adapter was trained on another model"
            )
        if target.endswith(".attn_q.weight"):
            b = rope_rows(b, base.n_head)
        elif target.endswith(".attn_k.weight"):
            b = rope_rows(b, base.n_kv_head)
        stem = target.removesuffix(".weight")
        out[f"{stem}.weight.lora_a"] = a
        out[f"{stem}.weight.lora_b"] = b
    return out


def convert(folder: Path, out: Path, base_gguf: Path) -> Path:
    """Write the GGUF adapter for `folder` at `out` (no caching; see gguf_adapter)."""
    import gguf
    import numpy as np

    config = read_config(folder)
    tensors = lora_tensors(folder, read_base(base_gguf))
    writer = gguf.GGUFWriter(str(out), ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for name, value in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(value, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def adapters_dir() -> Path:
    return cache_dir() / "gguf-adapters"


def gguf_adapter(adapter_dir: Path, base_gguf: Path | None = None) -> Path:
    """The llama.cpp form of a peft LoRA folder: converted once per adapter content, then read from the
    cache. `base_gguf` (default: the embedded model's file) is what the adapter is checked against."""
    folder = Path(adapter_dir).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"adapter folder {str(adapter_dir)!r} does not exist")
    read_config(folder)  # a bad folder fails before hashing its bytes
    name = adapter_digest(folder)
    if base_gguf is not None:  # an adapter for another base file is another conversion
        base = Path(base_gguf)
        name += "-" + hashlib.sha256(f"{base.resolve()}:{base.stat().st_size}".encode()).hexdigest()[:12]
    target = adapters_dir() / f"{name}.gguf"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():
            return target
        if base_gguf is None:
            from agentevo.models.local import gguf_path

            base_gguf = gguf_path()
        staging = target.with_name(f"{target.stem}.tmp{os.getpid()}.gguf")
        try:
            convert(folder, staging, base_gguf)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
        log.info("converted the adapter %s for llama.cpp: %s", folder, target.name)
    return target
