"""The LoRA trainer on exported HumanEval experience: the embedded model trains on the CPU, the loss falls,
and the adapter loads back through the model string and answers. Bad input fails in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentevo.config import ModelConfig
from agentevo.errors import AgentevoError, ConfigError, ExportError, ModelNotFound, TrainError
from agentevo.train.data import IGNORE, agent_messages, tokenize
from agentevo.train.export import ExportSettings, export_from_store
from agentevo.train.lora import TrainSettings, cpu_has_bf16, oom_as_error, plan_batches
from agentevo.train.trainer import train_lora
from tests.helpers import assert_same_greedy_reply_or_near_tie

SMALL = {"batch_size": 2, "max_length": 384, "lr": 3e-3, "rank": 4}


@pytest.fixture(scope="module")
def sft_data(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "he.jsonl"
    export_from_store(runs.store, out, ExportSettings(format="openai", test_fraction=0.3), runs=[runs.plain])
    return out


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from agentevo.models.engines.transformers import ensure_converted

    return AutoTokenizer.from_pretrained(ensure_converted())


# --- fast: labels, batches, checks -------------------------------------------------------------------------


def test_labels_cover_the_agents_replies_and_not_the_prompt_or_demonstrations(sft_data, tokenizer):
    row = json.loads(sft_data.with_name("he.train.jsonl").read_text().splitlines()[0])
    messages, trainable = agent_messages(row)
    ex = tokenize(tokenizer, messages, trainable, 4096)
    learned = tokenizer.decode([t for t in ex.labels if t != IGNORE])
    replies = [m["content"] for m, t in zip(messages, trainable, strict=True) if t]
    assert learned == "".join(r + "<|im_end|>" for r in replies)
    assert "add_all" not in learned and "expert Python programmer" not in learned


def test_a_tool_call_is_learned_as_the_agents_own_call_line(runs, tmp_path, tokenizer):
    out = tmp_path / "tools.jsonl"
    export_from_store(runs.store, out, ExportSettings(format="trl", split_by="none"), runs=[runs.recalled])
    row = json.loads(out.read_text().splitlines()[0])
    messages, trainable = agent_messages(row)
    ex = tokenize(tokenizer, messages, trainable, 4096)
    assert 'call show_tests {"lines": 5}<|im_end|>' in tokenizer.decode([t for t in ex.labels if t != IGNORE])
    assert [m["role"] for m in messages[4:6]] == ["assistant", "user"]  # the tool result, as the agent saw it


def test_batches_group_similar_lengths_and_put_the_longest_first():
    lengths = [10, 500, 12, 490, 11, 480, 13, 470]
    batches = plan_batches(lengths, 2, seed=0, group_by_length=True)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert 1 in batches[0]
    padding = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    naive = plan_batches(lengths, 2, seed=0, group_by_length=False)
    naive_padding = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in naive)
    assert padding < naive_padding


@pytest.mark.parametrize(
    ("base", "error", "message"),
    [
        ("openai/gpt-4o-mini", ConfigError, "only supported base here is local/smollm2"),
        ("local/llama9", ModelNotFound, "unknown embedded model"),
        ("local/smollm2+adapter:/tmp", ConfigError, "only supported base"),
    ],
)
def test_an_unsupported_base_model_is_a_one_line_error(sft_data, tmp_path, base, error, message):
    with pytest.raises(error, match=message):
        train_lora(sft_data, base, tmp_path / "a", TrainSettings())
    assert not (tmp_path / "a").exists()


def test_the_wrong_data_for_the_method_is_a_clear_error(runs, sft_data, tmp_path):
    with pytest.raises(ConfigError, match="holds SFT data but --method is dpo"):
        train_lora(sft_data, "local/smollm2", tmp_path / "a", TrainSettings(method="dpo"))
    with pytest.raises(ExportError, match="no training data"):
        train_lora(tmp_path / "missing.jsonl", "local/smollm2", tmp_path / "a", TrainSettings())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\nnot json\n')
    with pytest.raises(ExportError, match=r"bad\.jsonl:2: not JSON"):
        train_lora(bad, "local/smollm2", tmp_path / "a", TrainSettings())
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [{"content": 1}]}\n')
    with pytest.raises(ExportError, match="example 2 is not a conversation"):
        train_lora(bad, "local/smollm2", tmp_path / "a", TrainSettings(max_steps=1))
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".a.partial-*"))


def test_only_an_sft_adapter_folder_can_be_trained_further(sft_data, tmp_path):
    for settings in (TrainSettings(), TrainSettings(method="dpo")):
        with pytest.raises(ConfigError, match=r"cannot train .* further: SFT can continue a LoRA adapter"):
            train_lora(sft_data, "local/smollm2", tmp_path / "a", settings, start_from=tmp_path)
    assert not (tmp_path / "a").exists()


def test_a_missing_extra_is_named(sft_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # as if agentevo[train] were not installed
    with pytest.raises(TrainError, match=r"agentevo\[train\].*trl is missing"):
        train_lora(
            sft_data.with_name("he.train.jsonl"), "local/smollm2", tmp_path / "a", TrainSettings(method="dpo")
        )


def test_running_out_of_memory_becomes_one_line_with_what_to_change():
    import torch

    with pytest.raises(TrainError, match=r"out of memory on cpu at batch size 4 .* lower --batch-size"):
        with oom_as_error(torch.device("cpu"), TrainSettings(), 900):
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
            )
    with (
        pytest.raises(RuntimeError, match="shape mismatch"),
        oom_as_error(torch.device("cpu"), TrainSettings(), 9),
    ):
        raise RuntimeError("shape mismatch")


def test_an_existing_adapter_folder_is_not_overwritten_by_accident(sft_data, tmp_path):
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        train_lora(sft_data, "local/smollm2", out, TrainSettings())
    assert (out / "keep.txt").read_text() == "mine"


def lora_gradients(examples, checkpointing: bool, tokenizer) -> tuple[bool, dict[str, object]]:
    """One backward pass of the trainer's loss on a fresh adapter (no dropout, fixed init): whether the
    base recomputes activations, and the adapter's gradients."""
    import torch

    from agentevo.train import lora
    from agentevo.train.trainer import pad_id

    model, _ = lora.load_base(torch.device("cpu"), torch.float32)
    torch.manual_seed(0)
    settings = TrainSettings(rank=4, dropout=0.0, checkpointing=checkpointing)
    peft_model = lora.with_lora(model, settings)
    peft_model.train()
    for name, param in peft_model.named_parameters():  # B starts at 0: give it values so A gets gradients
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    batch = lora.collate(examples, pad_id(tokenizer), torch.device("cpu"))
    lora.completion_loss(peft_model, batch).backward()
    grads = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    return model.is_activation_checkpointing, grads


def test_recomputing_activations_gives_the_same_gradients_as_keeping_them(sft_data, tokenizer):
    from agentevo.train.trainer import tokenize_rows

    rows = [json.loads(line) for line in sft_data.with_name("he.train.jsonl").read_text().splitlines()[:2]]
    examples, _ = tokenize_rows(tokenizer, rows, 768)
    recomputes, recomputed = lora_gradients(examples, True, tokenizer)
    keeps, kept = lora_gradients(examples, False, tokenizer)
    assert (recomputes, keeps) == (True, False)
    assert recomputed.keys() == kept.keys() and len(kept) == 30 * 7 * 2
    for name, grad in kept.items():
        assert grad.abs().sum() > 0, name
        assert (recomputed[name] - grad).abs().max() <= 1e-5 * max(1.0, float(grad.abs().max())), name


# --- slow: real training on the CPU -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(2400)  # four steps take seconds on an idle machine, many minutes on a crowded one
def test_sft_trains_the_embedded_model_and_the_adapter_answers_through_the_model_string(sft_data, tmp_path):
    from agentevo.models import load_model

    out = tmp_path / "adapter"
    n = len(sft_data.with_name("he.train.jsonl").read_text().splitlines())
    settings = TrainSettings(epochs=4, max_steps=4, **{**SMALL, "batch_size": n})  # the whole set each step
    result = train_lora(sft_data, "local/smollm2", out, settings, progress=False)
    assert (result.device, result.steps) == ("cpu", 4)
    assert result.dtype == ("bfloat16" if cpu_has_bf16() else "float32")
    assert result.loss_last < result.loss_first, result.losses
    assert (out / "adapter_model.safetensors").stat().st_size > 100_000
    log = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["target_tokens"] > 0 for r in log)
    summary = json.loads((out / "training.json").read_text())
    assert summary["data"]["train_groups"] and summary["result"]["adapter_dir"] == str(out)
    assert not list(tmp_path.glob(".adapter.partial-*"))
    model = load_model(f"local/smollm2+adapter:{out}")
    reply = model.complete([{"role": "user", "content": "Reply with one word: yes"}], max_tokens=8)
    assert reply.text.strip() and reply.model == f"local/smollm2+adapter:{out}"
    # the default engine (llama.cpp, the adapter converted to GGUF) replies to the adapter's own held-out
    # prompts as the transformers engine does with the peft adapter merged, up to near-ties
    assert model.engine.name == "llama"
    hf = load_model(ModelConfig(name=f"local/smollm2+adapter:{out}", engine="transformers"))
    held_out = sft_data.with_name("he.test.jsonl").read_text().splitlines()[:3]
    for line in held_out:
        messages = json.loads(line)["messages"]
        prompt = messages[: max(i for i, m in enumerate(messages) if m["role"] == "assistant")]
        assert_same_greedy_reply_or_near_tie(model, hf, prompt, tokens=16)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_dpo_trains_on_exported_preference_pairs(runs, tmp_path):
    data = tmp_path / "pairs.jsonl"
    export_from_store(
        runs.store, data, ExportSettings(format="dpo", split_by="none"), runs=[runs.plain, runs.plain_odd]
    )
    out = tmp_path / "dpo-adapter"
    settings = TrainSettings(method="dpo", max_steps=2, **{**SMALL, "batch_size": 1})
    result = train_lora(data, "local/smollm2", out, settings, progress=False)
    assert result.steps == 2 and (out / "adapter_config.json").exists() and not (out / "trl").exists()
    log = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert len(log) == 2 and "rewards_margins" in log[0]


def test_errors_are_agentevo_errors():
    assert issubclass(TrainError, AgentevoError) and issubclass(ExportError, AgentevoError)
