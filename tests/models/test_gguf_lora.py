"""peft LoRA adapters converted for llama.cpp: the q/k row order matches the base GGUF's, a real adapter on
SmolLM2 loaded by llama.cpp continues prompts as transformers+peft does (and not as the base does), the
conversion is cached by content, and adapters llama.cpp cannot express fail in one line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from agentevo.errors import ConfigError
from agentevo.models.gguf_lora import gguf_adapter, read_base, rope_rows
from agentevo.models.local import gguf_path

PROMPTS = [
    "The capital of France is",
    "def add(a, b):\n    return",
    "Once upon a time, there was a",
    "List three colors:",
    "The quick brown fox",
]
NEW_TOKENS = 8
ADAPTED = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTEVO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def base():
    return read_base(gguf_path())


@pytest.fixture(scope="module")
def converted() -> Path:
    """The transformers engine's weights (module scope: resolved before each test's own cache is set)."""
    from agentevo.models.engines.transformers import ensure_converted

    return ensure_converted()


def write_adapter(folder: Path, tensors: dict[str, np.ndarray], **config) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    settings = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "none", "target_modules": ["q_proj"]}
    (folder / "adapter_config.json").write_text(json.dumps(settings | config))
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder


def lora(module: str, rows: int, cols: int, rank: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    key = f"base_model.model.model.layers.0.{module}"
    return {
        f"{key}.lora_A.weight": rng.standard_normal((rank, cols)).astype(np.float32),
        f"{key}.lora_B.weight": rng.standard_normal((rows, rank)).astype(np.float32),
    }


def small_adapter(folder: Path, seed: int = 0) -> Path:
    """q, k and v of the first block (576 wide; 9 query heads and 3 key/value heads of 64)."""
    tensors = lora("self_attn.q_proj", 576, 576, seed=seed)
    tensors |= lora("self_attn.k_proj", 192, 576, seed=seed + 1)
    tensors |= lora("self_attn.v_proj", 192, 576, seed=seed + 2)
    return write_adapter(folder, tensors, target_modules=["q_proj", "k_proj", "v_proj"])


def read_gguf(path: Path) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    import gguf

    reader = gguf.GGUFReader(path)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return fields, {t.name: np.array(t.data) for t in reader.tensors}


# --- the row order ---------------------------------------------------------------------------------------


def test_rope_rows_turn_the_transformers_q_and_k_into_the_base_ggufs(base, converted):
    """The safetensors the transformers engine loads were dequantised from the same GGUF, so after the
    permutation the matrices are equal, and without it they are not."""
    import gguf
    from safetensors import safe_open

    reader = gguf.GGUFReader(gguf_path())
    quantised = {t.name: t for t in reader.tensors}
    with safe_open(str(converted / "model.safetensors"), framework="numpy") as hf:
        for module, target, heads in [
            ("q_proj", "attn_q", base.n_head),
            ("k_proj", "attn_k", base.n_kv_head),
        ]:
            ours = hf.get_tensor(f"model.layers.7.self_attn.{module}.weight")
            t = quantised[f"blk.7.{target}.weight"]
            theirs = gguf.quants.dequantize(t.data, t.tensor_type)
            assert np.array_equal(rope_rows(ours, heads), theirs)
            assert not np.allclose(ours, theirs)


def test_the_converted_file_is_a_llama_lora_adapter_with_q_and_k_permuted(tmp_path, base):
    folder = small_adapter(tmp_path / "adapter")
    fields, tensors = read_gguf(gguf_adapter(folder))
    assert fields == {
        "general.architecture": "llama",
        "general.type": "adapter",
        "adapter.type": "lora",
        "adapter.lora.alpha": 4.0,
    }
    raw = lora("self_attn.q_proj", 576, 576) | lora("self_attn.k_proj", 192, 576, seed=1)
    raw |= lora("self_attn.v_proj", 192, 576, seed=2)
    key = "base_model.model.model.layers.0.self_attn.{}.lora_{}.weight"
    assert sorted(tensors) == sorted(f"blk.0.attn_{m}.weight.lora_{s}" for m in "qkv" for s in "ab")
    for m, module, heads in [("q", "q_proj", base.n_head), ("k", "k_proj", base.n_kv_head)]:
        assert np.array_equal(tensors[f"blk.0.attn_{m}.weight.lora_a"], raw[key.format(module, "A")])
        assert np.array_equal(
            tensors[f"blk.0.attn_{m}.weight.lora_b"], rope_rows(raw[key.format(module, "B")], heads)
        )
        assert not np.array_equal(tensors[f"blk.0.attn_{m}.weight.lora_b"], raw[key.format(module, "B")])
    assert np.array_equal(tensors["blk.0.attn_v.weight.lora_b"], raw[key.format("v_proj", "B")])


# --- the cache -------------------------------------------------------------------------------------------


def test_a_second_call_reads_the_cache_and_a_changed_adapter_gets_a_new_file(tmp_path):
    folder = small_adapter(tmp_path / "adapter")
    first = gguf_adapter(folder)
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    again = gguf_adapter(folder)
    assert again == first and (again.stat().st_mtime_ns, again.stat().st_ino) == stamp
    small_adapter(folder, seed=5)  # retrained into the same folder
    changed = gguf_adapter(folder)
    assert changed != first and changed.exists() and first.exists()
    assert sorted(p.name for p in changed.parent.iterdir() if p.suffix == ".gguf") == sorted(
        [first.name, changed.name]
    )


# --- bad adapters ----------------------------------------------------------------------------------------


def q_only(rows: int = 576, cols: int = 576, layer: int = 0) -> dict[str, np.ndarray]:
    tensors = lora("self_attn.q_proj", rows, cols)
    return {k.replace("layers.0.", f"layers.{layer}."): v for k, v in tensors.items()}


@pytest.mark.parametrize(
    ("tensors", "config", "message"),
    [
        (q_only(), {"use_rslora": True}, "rsLoRA"),
        (q_only(), {"use_dora": True}, "DoRA"),
        (q_only(), {"modules_to_save": ["lm_head"]}, "modules_to_save"),
        (q_only(), {"bias": "lora_only"}, "trained biases"),
        (q_only(), {"alpha_pattern": {"q_proj": 32}}, "alpha_pattern"),
        (q_only(), {"peft_type": "IA3"}, "not a LoRA adapter"),
        (q_only(), {"lora_alpha": 0}, "lora_alpha must be a positive number"),
        (q_only(rows=2048, cols=2048), {}, "does not fit the base tensor blk.0.attn_q.weight"),
        (q_only(layer=40), {}, "has no tensor in the base model"),
        ({k: v for k, v in q_only().items() if "lora_A" in k}, {}, "not both A and B"),
        ({"base_model.model.lm_head.weight": np.zeros((2, 2), np.float32)}, {}, "not a LoRA A/B weight"),
    ],
)
def test_an_adapter_llama_cpp_cannot_run_is_a_one_line_error(tmp_path, tensors, config, message):
    folder = write_adapter(tmp_path / "bad", tensors, **config)
    with pytest.raises(ConfigError, match=message) as err:
        gguf_adapter(folder)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache" / "gguf-adapters").exists() or not list(
        (tmp_path / "cache" / "gguf-adapters").glob("*.gguf")
    )


def test_a_folder_without_the_adapter_files_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        gguf_adapter(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no adapter_config\.json"):
        gguf_adapter(tmp_path / "empty")
    folder = write_adapter(tmp_path / "nofile", q_only())
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"no adapter_model\.safetensors"):
        gguf_adapter(folder)
    (folder / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="unreadable"):
        gguf_adapter(folder)
    (folder / "adapter_config.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        gguf_adapter(folder)
    (folder / "adapter_config.json").write_text("[]")
    with pytest.raises(ConfigError, match="not a peft adapter config"):
        gguf_adapter(folder)


# --- llama.cpp and transformers agree --------------------------------------------------------------------


@dataclass
class Reference:
    folder: Path
    prompts: list[list[int]]  # token ids, the same for both engines
    greedy: list[list[int]]  # transformers + peft
    adapted: list[np.ndarray]  # transformers + peft logits along `greedy` (teacher-forced), per prompt
    plain: list[np.ndarray]  # transformers without the adapter, along the same tokens


@pytest.fixture(scope="module")
def reference(tmp_path_factory, converted) -> Reference:
    """A real peft adapter on SmolLM2 (every projection, rank 4, random B: no training needed; q and k
    weigh most, so a wrong row order shows) and what transformers + peft make of the prompts with it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentevo.models.engines.transformers import quiet_transformers

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    model = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(ADAPTED))
    torch.manual_seed(0)  # peft draws A from the global generator
    model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                scale = 0.2 if ".q_proj." in name or ".k_proj." in name else 0.03
                p.copy_(torch.randn(p.shape, generator=generator) * scale)
    model.eval()
    folder = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(str(folder))
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    greedy, adapted, plain = [], [], []
    with torch.inference_mode():
        for ids in prompts:
            out = model.generate(
                input_ids=torch.tensor([ids]),
                max_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
            greedy.append(out[0][len(ids) :].tolist())
            forced = out[:, :-1]
            adapted.append(model(forced).logits[0, len(ids) - 1 :].numpy())
            with model.disable_adapter():
                plain.append(model(forced).logits[0, len(ids) - 1 :].numpy())
    return Reference(folder, prompts, greedy, adapted, plain)


@dataclass
class LlamaRun:
    greedy: list[list[int]]
    forced: list[np.ndarray]  # logits along the reference's greedy tokens


def run_llama(lora_path: Path | None, ref: Reference) -> LlamaRun:
    """Greedy continuations, and logits along transformers' continuations, from llama.cpp on the Q4_1 base
    (plus the adapter)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(
        model_path=str(gguf_path()),
        n_ctx=512,
        n_threads=1,  # on a loaded machine, two threads spend their time waiting for each other
        verbose=False,
        logits_all=False,
        lora_path=str(lora_path) if lora_path else None,
    )

    def last() -> np.ndarray:  # with logits_all=False, Llama.scores stays empty
        row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).copy()

    run = LlamaRun([], [])
    for ids, theirs in zip(ref.prompts, ref.greedy, strict=True):
        llm.reset()
        llm.eval(ids)
        new = [int(last().argmax())]
        while len(new) < NEW_TOKENS:
            llm.eval([new[-1]])
            new.append(int(last().argmax()))
        run.greedy.append(new)
        llm.reset()
        llm.eval(ids)
        rows = [last()]
        for token in theirs[:-1]:
            llm.eval([token])
            rows.append(last())
        run.forced.append(np.stack(rows))
    llm.close()
    return run


def agreeing_prefix(a: list[int], b: list[int]) -> int:
    """Tokens that agree before the first difference (after it the two continue different texts)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))


def without_rope_rows(converted_file: Path, out: Path, base) -> Path:
    """The converted adapter with q and k's lora_b put back in transformers' row order: what a converter
    that forgot the permutation would write."""
    import gguf

    fields, tensors = read_gguf(converted_file)
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", fields["adapter.lora.alpha"])
    for name, value in tensors.items():
        heads = base.n_head if ".attn_q." in name else base.n_kv_head if ".attn_k." in name else 0
        if heads and name.endswith(".lora_b"):
            rows = value.shape[0]
            value = value.reshape(heads, rows // heads // 2, 2, -1).swapaxes(1, 2).reshape(value.shape)
        writer.add_tensor(name, np.ascontiguousarray(value))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.mark.slow
def test_llama_cpp_with_the_converted_adapter_continues_as_transformers_and_peft_do(
    reference, base, tmp_path
):
    converted = gguf_adapter(reference.folder)
    runs = {
        "adapter": run_llama(converted, reference),
        "base": run_llama(None, reference),
        "unpermuted": run_llama(without_rope_rows(converted, tmp_path / "wrong.gguf", base), reference),
    }
    theirs = np.concatenate(
        [(a - p).ravel() for a, p in zip(reference.adapted, reference.plain, strict=True)]
    )
    figures = {}
    for name, run in runs.items():
        prefix = sum(agreeing_prefix(a, r) for a, r in zip(run.greedy, reference.greedy, strict=True))
        forced = sum(
            int((f.argmax(1) == np.array(r)).sum()) for f, r in zip(run.forced, reference.greedy, strict=True)
        )
        ours = np.concatenate(
            [(f - p).ravel() for f, p in zip(run.forced, runs["base"].forced, strict=True)]
        )  # what the adapter changes in llama.cpp's logits, beside what it changes in transformers'
        effect = float(np.corrcoef(ours, theirs)[0, 1]) if name != "base" else 0.0
        figures[name] = (prefix, forced, effect)
        print(
            f"llama.cpp {name}: greedy prefix {prefix}/40, teacher-forced {forced}/40, effect r {effect:.3f}"
        )
    changed = sum(a != b for a, b in zip(runs["adapter"].greedy, runs["base"].greedy, strict=True))
    print(f"continuations the adapter changes in llama.cpp: {changed}/{len(PROMPTS)}")
    assert changed >= 2
    prefix, forced, effect = figures["adapter"]
    assert prefix >= 28 and forced >= 37 and effect > 0.9  # Q4_1 against f32: close, not equal
    assert prefix > figures["base"][0] and prefix > figures["unpermuted"][0]
    assert figures["unpermuted"][2] < 0.5  # the check would catch a converter without the permutation
