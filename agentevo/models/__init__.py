"""Models behind one `Model` protocol, chosen by one string.

local/smollm2                    the embedded SmolLM2-135M-Instruct, run in-process (the default)
local/smollm2+adapter:DIR        the same with a LoRA adapter from DIR on top
openai/gpt-4o-mini, anthropic/…  any litellm model string (keys from the usual env vars)
NAME with api_base=URL           any OpenAI-compatible server (llama.cpp, vLLM, …)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentevo.models.cache import CachedModel
from agentevo.protocols import Model

if TYPE_CHECKING:  # the run config (pydantic, yaml) loads with load_model: the embedders import this package
    from agentevo.config import ModelConfig

LOCAL_PREFIX = "local/"


def load_model(spec: str | ModelConfig, *, cache_path: Path | None = None, check: bool = True) -> Model:
    """Build the model a string (or a ModelConfig) names; raise ModelNotFound / ModelError at once if it
    cannot work (unknown name, missing key, unreachable api_base) so that nothing is written first."""
    from agentevo.config import ModelConfig

    cfg = spec if isinstance(spec, ModelConfig) else ModelConfig(name=spec)
    model: Model
    if cfg.name.startswith(LOCAL_PREFIX):
        from agentevo.models.local import EmbeddedModel

        model = EmbeddedModel.from_spec(cfg)
    else:
        from agentevo.models.remote import LiteLLMModel

        model = LiteLLMModel.from_config(cfg, check=check)
    if cfg.cache and cache_path is not None:
        model = CachedModel(model, cache_path, seed=cfg.seed)
    return model


__all__ = ["CachedModel", "load_model"]
