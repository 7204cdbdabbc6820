"""Any remote model through litellm: retries with tenacity, token and cost accounting, offline-safe import.

litellm is imported on first use, with its cost map taken from the package (no network). In tests,
`agentevo.testing.forbid_remote_models` turns every call to a non-loopback endpoint into a ModelError.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from agentevo.config import ModelConfig
from agentevo.errors import ModelError, ModelNotFound
from agentevo.records import Message, ModelReply, ToolCall, ToolSpec

log = logging.getLogger(__name__)

ALLOW_REMOTE = os.environ.get("AGENTEVO_FORBID_REMOTE") != "1"  # tests turn it off (agentevo.testing)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def litellm_module() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def is_loopback(api_base: str | None) -> bool:
    return api_base is not None and (urlparse(api_base).hostname or "") in LOOPBACK


def check_reachable(api_base: str, timeout_s: float = 3.0) -> None:
    url = urlparse(api_base)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ModelError(f"--api-base {api_base!r} is not an http(s) URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ModelError(f"cannot reach {api_base} ({exc.strerror or exc})") from None


def resolve_name(name: str, api_base: str | None) -> str:
    """With an api_base and no provider prefix, talk OpenAI's protocol to it."""
    if api_base and "/" not in name:
        return f"openai/{name}"
    return name


def check_model(name: str, api_base: str | None) -> None:
    litellm = litellm_module()
    try:
        litellm.get_llm_provider(name, api_base=api_base)
    except Exception:
        raise ModelNotFound(
            f"unknown model {name!r}: use local/smollm2, a litellm string like openai/gpt-4o-mini, "
            "or NAME with --api-base URL"
        ) from None
    if api_base:
        check_reachable(api_base)
        return
    declared = litellm.validate_environment(name).get("missing_keys") or []
    missing = declared + [k for k in required_keys(litellm, name) if not os.environ.get(k)]
    missing = list(dict.fromkeys(missing))
    if missing:
        raise ModelError(f"model {name!r} needs {', '.join(missing)} set in the environment")


def required_keys(litellm: Any, name: str) -> list[str]:
    """Keys litellm reports as present may still be empty strings; those count as missing."""
    blank = {k for k, v in os.environ.items() if k.endswith("_API_KEY") and not v.strip()}
    if not blank:
        return []
    saved = {k: os.environ.pop(k) for k in blank}
    try:
        return list(litellm.validate_environment(name).get("missing_keys") or [])
    finally:
        os.environ.update(saved)


def retryable(exc: BaseException) -> bool:
    litellm = litellm_module()
    return isinstance(
        exc,
        (
            litellm.RateLimitError,
            litellm.APIConnectionError,
            litellm.Timeout,
            litellm.InternalServerError,
            litellm.ServiceUnavailableError,
        ),
    )


class LiteLLMModel:
    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 384,
        seed: int | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        constrains: bool = False,
    ) -> None:
        self.name = resolve_name(name, api_base)
        self.constrains = constrains  # --constrain on: JSON-schema replies use the provider's schema mode
        self.api_base = api_base
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.timeout_s = timeout_s
        self.retries = retries

    @functools.cached_property
    def supports_tools(self) -> bool:
        """Native function calling, as litellm's model map knows it (unknown models: the text grammar)."""
        try:
            return bool(litellm_module().supports_function_calling(model=self.name))
        except Exception:  # litellm raises for models it has never heard of
            return False

    @functools.cached_property
    def supports_schema(self) -> bool:
        """Replies constrained to a JSON schema, as litellm's model map knows it. A grammar that is not one
        JSON value (an action, a code block) has no provider mode, so such replies stay free text."""
        try:
            return bool(litellm_module().supports_response_schema(model=self.name))
        except Exception:
            return False

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, check: bool = True) -> LiteLLMModel:
        model = cls(
            cfg.name,
            api_base=cfg.api_base,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            seed=cfg.seed,
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            constrains=bool(cfg.constrain),
        )
        if check:
            check_model(model.name, model.api_base)
        return model

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        constraint: Any = None,
    ) -> ModelReply:
        if not ALLOW_REMOTE and not is_loopback(self.api_base):
            raise ModelError(f"remote model calls are disabled here (model {self.name}); use --live")
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": list(messages),
            "timeout": self.timeout_s,
            **self.sampling(stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed),
        }
        if self.api_base:
            kwargs.update(api_base=self.api_base, api_key=os.environ.get("OPENAI_API_KEY") or "none")
        if tools:
            kwargs["tools"] = [{"type": "function", "function": t.model_dump()} for t in tools]
        if constraint is not None and constraint.json_schema is not None and self.supports_schema:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": constraint.json_schema},
            }
        started = time.perf_counter()
        response = self.call(kwargs)
        return self.to_reply(response, time.perf_counter() - started)

    def sampling(
        self,
        *,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The request's sampling fields: the call's values over the model's defaults (top_p is never sent,
        so the provider's default applies)."""
        fields: dict[str, Any] = {
            "temperature": self.temperature if temperature is None else temperature,
            "max_tokens": max_tokens or self.max_tokens,
        }
        if stop:
            fields["stop"] = list(stop)
        if (seed if seed is not None else self.seed) is not None:
            fields["seed"] = seed if seed is not None else self.seed
        return fields

    def reply_settings(
        self,
        *,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """What the response cache keys on: exactly the sampling fields sent, and the endpoint they go to."""
        sent = self.sampling(stop=stop, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return {"endpoint": self.endpoint, **sent}

    @functools.cached_property
    def endpoint(self) -> str:
        """Where requests go: --api-base, else the provider's fixed URL or its `<PROVIDER>_API_BASE` /
        `<PROVIDER>_BASE_URL` variable (litellm reads those), else the provider's default."""
        if self.api_base:
            return self.api_base
        try:
            _, provider, _, base = litellm_module().get_llm_provider(self.name)
        except Exception:  # unknown to litellm: the call itself will say so
            return "unknown"
        if base:
            return str(base)
        for var in (f"{provider.upper()}_API_BASE", f"{provider.upper()}_BASE_URL"):
            if os.environ.get(var):
                return os.environ[var]
        return f"{provider} default"

    def call(self, kwargs: dict[str, Any]) -> Any:
        litellm = litellm_module()

        @retry(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=0.5, max=20),
            reraise=True,
        )
        def attempt() -> Any:
            return litellm.completion(**kwargs)

        try:
            return attempt()
        except litellm.AuthenticationError:
            raise ModelError(f"{self.name}: authentication failed (check the API key)") from None
        except litellm.NotFoundError:
            raise ModelNotFound(f"{self.name}: the provider does not know this model") from None
        except Exception as exc:  # every other provider failure is reported as one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{self.name}: {first[:300]}") from None

    def to_reply(self, response: Any, seconds: float) -> ModelReply:
        choice = response.choices[0]
        message = choice.message
        usage = getattr(response, "usage", None)
        calls = tuple(
            ToolCall(name=c.function.name, arguments=parse_arguments(c.function.arguments), id=c.id or "")
            for c in (getattr(message, "tool_calls", None) or [])
        )
        return ModelReply(
            text=message.content or "",
            model=self.name,
            tool_calls=calls,
            tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
            tokens_out=getattr(usage, "completion_tokens", 0) or 0,
            cost=self.cost(response),
            seconds=seconds,
            finish_reason=choice.finish_reason or "",
        )

    def cost(self, response: Any) -> float:
        try:
            return float(litellm_module().completion_cost(completion_response=response) or 0.0)
        except Exception:  # unknown prices (local servers, new models) cost 0
            return 0.0


def parse_arguments(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_value": value}
