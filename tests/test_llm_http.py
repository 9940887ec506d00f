"""The OpenAI provider (plain JSON over aiohttp) and the Anthropic one (its
SDK) against a scripted HTTP server: request mapping, response parsing and the
classification of every kind of failure."""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reflectloop.core.llm import LLM, ProviderError
from reflectloop.core.llm.anthropic_provider import AnthropicProvider
from reflectloop.core.llm.openai_provider import OpenAIProvider
from reflectloop.core.types import CallRecord, Message, Params, Usage

SECRET = "sk-test-SECRET"
MESSAGES = (Message("system", "Be brief."), Message("user", "Capital of France?"))


@dataclass
class Reply:
    status: int = 200
    body: object = None  # JSON; the string "{key}" inside it becomes the key the client sent
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: list[Reply] = []
        self.requests: list[Request] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        # A client that timed out hangs up before its reply: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append(Request(self.path, headers, body))
        reply = self.server.replies.pop(0)
        time.sleep(reply.delay)
        sent_key = headers.get("x-api-key") or headers.get("authorization", "")
        payload = json.dumps(reply.body).replace("{key}", sent_key).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    scripted = ScriptedServer()
    thread = threading.Thread(target=scripted.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def chat_completion(
    text: str | None = "Paris", usage: dict | None = None, choices: bool = True, finish_reason: str | None = "stop"
) -> dict:
    body = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
    if choices:
        body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage
    return body


def openai_error(message: str, kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind}}


def anthropic_message(text: str = "Paris", stop_reason: str | None = "end_turn") -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 2},
    }


def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def openai_attempt(server: ScriptedServer, *replies: Reply, params: Params = Params(max_tokens=8), **options):
    server.replies.extend(replies)
    provider = OpenAIProvider("gpt-4o-mini", base_url=f"{server.url}/v1", **options)
    try:
        return await provider.complete(MESSAGES, params)
    finally:
        await provider.aclose()


# ------------------------------------------------------------------ openai
@pytest.mark.asyncio
async def test_openai_request_and_response(server):
    usage = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    params = Params(temperature=0.7, top_p=0.9, max_tokens=8, stop=("\n",), seed=42, sample=0)
    completion = await openai_attempt(server, Reply(body=chat_completion("Paris", usage)), params=params)
    assert (completion.text, completion.model, completion.cached) == ("Paris", "openai:gpt-4o-mini", False)
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (9, 1)
    assert not completion.usage.estimated and completion.latency > 0
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
    sent = {k: request.body[k] for k in ("model", "temperature", "top_p", "max_tokens", "stop", "seed")}
    assert sent == {"model": "gpt-4o-mini", "temperature": 0.7, "top_p": 0.9, "max_tokens": 8, "stop": ["\n"], "seed": 42}


@pytest.mark.asyncio
@pytest.mark.parametrize(("sent", "read"), [("length", "length"), ("stop", "stop"), ("content_filter", "content_filter"), (None, None)])
async def test_openai_finish_reason(server, sent, read):
    completion = await openai_attempt(server, Reply(body=chat_completion("Par", {"prompt_tokens": 9, "completion_tokens": 1}, finish_reason=sent)))
    assert completion.finish_reason == read and completion.truncated == (read == "length")


@pytest.mark.asyncio
async def test_openai_without_a_cap_sends_none(server):
    ok = Reply(body=chat_completion(usage={"prompt_tokens": 1, "completion_tokens": 1}))
    await openai_attempt(server, ok, params=Params(max_tokens=None))
    assert "max_tokens" not in server.requests[0].body and "max_completion_tokens" not in server.requests[0].body
    official = OpenAIProvider("gpt-4o")
    assert not {"max_tokens", "max_completion_tokens"} & set(official._request(MESSAGES, Params(max_tokens=None)))
    await official.aclose()


@pytest.mark.asyncio
async def test_openai_samples_get_their_own_seed_and_no_seed_means_none(server):
    ok = Reply(body=chat_completion(usage={"prompt_tokens": 1, "completion_tokens": 1}))
    await openai_attempt(server, ok, params=Params(seed=42, sample=1))
    await openai_attempt(server, ok, params=Params())
    assert server.requests[0].body["seed"] != 42
    assert "seed" not in server.requests[1].body


@pytest.mark.asyncio
async def test_openai_missing_usage_is_estimated(server):
    completion = await openai_attempt(server, Reply(body=chat_completion("Paris")))
    assert completion.usage.estimated
    assert completion.usage.completion_tokens == 1 and completion.usage.prompt_tokens > 5


@pytest.mark.asyncio
async def test_openai_null_content_is_empty_text(server):
    completion = await openai_attempt(server, Reply(body=chat_completion(None, {"prompt_tokens": 3, "completion_tokens": 0})))
    assert completion.text == ""


@pytest.mark.asyncio
async def test_openai_empty_choices_is_retryable(server):
    with pytest.raises(ProviderError, match="no choices") as raised:
        await openai_attempt(server, Reply(body=chat_completion(choices=False)))
    assert raised.value.retryable


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (429, {"retry-after": "7"}, True, 7.0),
        (429, {"retry-after-ms": "250"}, True, 0.25),
        (500, {}, True, None),
        (503, {"x-should-retry": "false"}, False, None),
        (400, {}, False, None),
        (404, {}, False, None),
    ],
)
async def test_openai_status_errors_are_classified(server, status, headers, retryable, retry_after):
    with pytest.raises(ProviderError) as raised:
        await openai_attempt(server, Reply(status, openai_error(f"failure {status}"), headers))
    error = raised.value
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, retry_after)
    assert f"HTTP {status}" in str(error) and f"failure {status}" in str(error)


@pytest.mark.asyncio
async def test_openai_auth_error_hides_the_key_and_names_the_variable(server):
    with pytest.raises(ProviderError) as raised:
        await openai_attempt(server, Reply(401, openai_error("Incorrect API key provided: {key}")))
    message = str(raised.value)
    assert not raised.value.retryable and raised.value.status == 401
    assert SECRET not in message and "***" in message and "OPENAI_API_KEY" in message


@pytest.mark.asyncio
async def test_openai_timeout_is_retryable(server):
    with pytest.raises(ProviderError, match="within 0.2s") as raised:
        await openai_attempt(server, Reply(body=chat_completion(), delay=1.0), timeout=0.2)
    assert raised.value.retryable and raised.value.status is None


@pytest.mark.asyncio
async def test_openai_connection_refused_is_retryable(server):
    provider = OpenAIProvider("gpt-4o-mini", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError, match="cannot reach http://127.0.0.1:9/v1") as raised:
        await provider.complete(MESSAGES, Params())
    assert raised.value.retryable
    await provider.aclose()


@pytest.mark.asyncio
async def test_openai_official_api_gets_max_completion_tokens(server):
    provider = OpenAIProvider("gpt-5-mini")
    request = provider._request(MESSAGES, Params(max_tokens=8, temperature=0.0))
    assert request["max_completion_tokens"] == 8 and "max_tokens" not in request
    assert "temperature" not in request and "top_p" not in request  # reasoning models refuse them
    assert "temperature" in OpenAIProvider("gpt-4o")._request(MESSAGES, Params())
    await provider.aclose()


@pytest.mark.asyncio
async def test_llm_retries_a_rate_limit_over_http(server):
    server.replies += [
        Reply(429, openai_error("Rate limit reached"), {"retry-after": "0.2"}),
        Reply(body=chat_completion("Paris", {"prompt_tokens": 9, "completion_tokens": 1})),
    ]
    records: list[CallRecord] = []
    llm = LLM(OpenAIProvider("gpt-4o-mini", base_url=f"{server.url}/v1"), role="target", backoff=0.001, on_call=records.append)
    started = time.monotonic()
    completion = await llm.complete(MESSAGES, Params(max_tokens=8), purpose="evaluate")
    assert time.monotonic() - started >= 0.2
    assert completion.text == "Paris" and len(server.requests) == 2
    assert [r.attempt for r in records] == [1, 2]
    assert "HTTP 429" in records[0].error and "Rate limit reached" in records[0].error
    assert records[1].error is None and records[1].usage.prompt_tokens == 9
    await llm.aclose()


# ------------------------------------------------------- openai embeddings
def embeddings_body(vectors: list, order: list[int] | None = None, usage: dict | None = None) -> dict:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    if order is not None:
        data = [data[i] for i in order]
    body = {"object": "list", "data": data, "model": "text-embedding-3-small"}
    if usage is not None:
        body["usage"] = usage
    return body


async def openai_embed(server: ScriptedServer, texts, *replies: Reply):
    server.replies.extend(replies)
    provider = OpenAIProvider("text-embedding-3-small", base_url=f"{server.url}/v1")
    try:
        return await provider.embed(texts)
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_openai_embeddings_request_and_order(server):
    body = embeddings_body([[1.0, 0.0], [0, 2], [0.5, 0.5]], order=[2, 0, 1], usage={"prompt_tokens": 7, "total_tokens": 7})
    answer = await openai_embed(server, ["first", "", "third"], Reply(body=body))
    assert answer.vectors == ((1.0, 0.0), (0.0, 2.0), (0.5, 0.5))  # by index, not by position
    assert answer.usage == Usage(7, 0) and answer.latency > 0
    [request] = server.requests
    assert request.path == "/v1/embeddings"
    assert request.body == {"model": "text-embedding-3-small", "input": ["first", " ", "third"], "encoding_format": "float"}


@pytest.mark.asyncio
async def test_openai_embeddings_per_token_are_mean_pooled(server):
    # llama-cpp-python's server, for a model without pooling: a vector per token.
    body = embeddings_body([[[1.0, 0.0], [3.0, 2.0]], [[5.0, 5.0]]], usage={"prompt_tokens": 3})
    answer = await openai_embed(server, ["two tokens", "one"], Reply(body=body))
    assert answer.vectors == ((2.0, 1.0), (5.0, 5.0))


@pytest.mark.asyncio
async def test_openai_embeddings_without_usage_are_estimated(server):
    answer = await openai_embed(server, ["hello world"], Reply(body=embeddings_body([[1.0]])))
    assert answer.usage == Usage(2, 0, estimated=True)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "message", "retryable"),
    [
        (embeddings_body([[1.0]]), "asked for 2 embeddings, got 1", False),
        (embeddings_body([[[1.0], [2.0, 3.0]], [[3.0]]]), "neither a list of numbers nor a list of token vectors", False),
        (embeddings_body([["x"], [1.0]]), "neither a list of numbers", False),
        ({"object": "list"}, "has no data", True),
    ],
)
async def test_openai_embeddings_malformed(server, body, message, retryable):
    with pytest.raises(ProviderError, match=message) as raised:
        await openai_embed(server, ["a", "b"], Reply(body=body))
    assert raised.value.retryable == retryable


@pytest.mark.asyncio
async def test_openai_embeddings_auth_error_hides_the_key(server):
    records: list[CallRecord] = []
    llm = LLM(OpenAIProvider("text-embedding-3-small", base_url=f"{server.url}/v1"), role="embeddings", on_call=records.append)
    server.replies.append(Reply(401, openai_error("Incorrect API key provided: {key}")))
    with pytest.raises(ProviderError) as raised:
        await llm.embed(["a"])
    await llm.aclose()
    assert SECRET not in str(raised.value) and "OPENAI_API_KEY" in str(raised.value)
    [record] = records
    assert record.purpose == "embed" and "HTTP 401" in record.error and SECRET not in repr(record)


# --------------------------------------------------------------- anthropic
async def anthropic_attempt(server: ScriptedServer, *replies: Reply, params: Params = Params(max_tokens=8)):
    server.replies.extend(replies)
    provider = AnthropicProvider("claude-3-5-haiku-latest", base_url=server.url)
    try:
        return await provider.complete(MESSAGES, params)
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_anthropic_request_and_response(server):
    completion = await anthropic_attempt(server, Reply(body=anthropic_message("Paris")), params=Params(max_tokens=8, stop=("END",)))
    assert (completion.text, completion.model) == ("Paris", "anthropic:claude-3-5-haiku-latest")
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.estimated) == (12, 2, False)
    [request] = server.requests
    assert request.path == "/v1/messages"
    assert SECRET in (request.headers.get("x-api-key"), request.headers.get("authorization", "").removeprefix("Bearer "))
    assert request.body["system"] == "Be brief."
    assert request.body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert request.body["max_tokens"] == 8 and request.body["stop_sequences"] == ["END"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("stop_reason", "read"),
    [("max_tokens", "length"), ("end_turn", "stop"), ("stop_sequence", "stop"), ("refusal", "refusal"), (None, None)],
)
async def test_anthropic_finish_reason(server, stop_reason, read):
    completion = await anthropic_attempt(server, Reply(body=anthropic_message("Par", stop_reason)))
    assert completion.finish_reason == read and completion.truncated == (read == "length")


@pytest.mark.asyncio
async def test_anthropic_without_a_cap_sends_the_models_output_limit(server):
    await anthropic_attempt(server, Reply(body=anthropic_message()), params=Params(max_tokens=None))
    assert server.requests[0].body["max_tokens"] == 8192  # claude-3-5-haiku's


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(529, "overloaded_error", True), (429, "rate_limit_error", True), (400, "invalid_request_error", False)],
)
async def test_anthropic_status_errors_are_classified(server, status, kind, retryable):
    with pytest.raises(ProviderError) as raised:
        await anthropic_attempt(server, Reply(status, anthropic_error(kind, "nope"), {"retry-after": "3"}))
    assert (raised.value.status, raised.value.retryable, raised.value.retry_after) == (status, retryable, 3.0)


@pytest.mark.asyncio
async def test_anthropic_auth_error_hides_the_key(server):
    with pytest.raises(ProviderError) as raised:
        await anthropic_attempt(server, Reply(401, anthropic_error("authentication_error", "invalid x-api-key {key}")))
    assert SECRET not in str(raised.value) and "ANTHROPIC_API_KEY" in str(raised.value)
