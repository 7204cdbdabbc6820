"""LiteLLMModel against a real OpenAI-compatible HTTP server started by the test (no network)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentevo.config import ModelConfig
from agentevo.errors import ModelError, ModelNotFound
from agentevo.models import load_model
from agentevo.testing import forbid_remote_calls


class ChatServer(ThreadingHTTPServer):
    def __init__(self, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.fail_first = fail_first

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if len(self.server.requests) <= self.server.fail_first:
            return self.reply(429, {"error": {"message": "slow down", "type": "rate_limit"}})
        last = body["messages"][-1]["content"]
        return self.reply(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": f"echo: {last}"},
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            },
        )

    def reply(self, code: int, data: dict) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server():
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


def test_litellm_model_talks_to_a_local_openai_compatible_server(server):
    model = load_model(ModelConfig(name="tiny", api_base=server.url, max_tokens=20))
    reply = model.complete([{"role": "user", "content": "ping"}], stop=["\n"])
    assert reply.text == "echo: ping"
    assert (reply.tokens_in, reply.tokens_out) == (11, 3)
    assert server.requests[0]["model"] == "tiny"
    assert server.requests[0]["stop"] == ["\n"]


def test_rate_limits_are_retried(server):
    server.fail_first = 1
    model = load_model(ModelConfig(name="tiny", api_base=server.url, retries=2))
    assert model.complete([{"role": "user", "content": "again"}]).text == "echo: again"
    assert len(server.requests) == 2


def test_an_unreachable_api_base_is_one_clear_error():
    with pytest.raises(ModelError, match="cannot reach"):
        load_model(ModelConfig(name="tiny", api_base="http://127.0.0.1:9/v1"))


def test_unknown_model_and_missing_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelNotFound):
        load_model("nosuchprovider/model-x")
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        load_model("openai/gpt-4o-mini")


def test_remote_calls_are_forbidden_in_tests(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = load_model("openai/gpt-4o-mini")
    with forbid_remote_calls(), pytest.raises(ModelError, match="disabled"):
        model.complete([{"role": "user", "content": "hi"}])


def test_constrain_on_sends_a_json_schema_reply_in_the_providers_schema_mode(server):
    from agentevo.constrain import judge_reply, reflection_reply
    from agentevo.models.calls import ask

    cfg = ModelConfig(name="openai/gpt-4o-mini", api_base=server.url, constrain=True)
    model = load_model(cfg)
    ask(model, [{"role": "user", "content": "reflect"}], constraint=reflection_reply())
    sent = server.requests[-1]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"] == reflection_reply().json_schema
    ask(model, [{"role": "user", "content": "judge"}], constraint=judge_reply())
    assert "response_format" not in server.requests[-1]  # a grammar that is not JSON has no provider mode
    off = load_model(ModelConfig(name="openai/gpt-4o-mini", api_base=server.url, constrain=False))
    ask(off, [{"role": "user", "content": "reflect"}], constraint=reflection_reply())
    assert "response_format" not in server.requests[-1]
