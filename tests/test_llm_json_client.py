"""``core.llm.http``, the plain-JSON client under ``openai:`` models: what it
sends without a key, the account headers, proxies from the environment,
error bodies quoted as the server wrote them, and one provider serving one
event loop after another without leaking a session."""
from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

from reflectloop.core.llm import LLMError, ProviderError
from reflectloop.core.llm.http import env_proxy
from reflectloop.core.llm.openai_provider import OpenAIProvider
from reflectloop.core.types import Params
from tests.test_llm_http import MESSAGES, SECRET, Reply, chat_completion, openai_attempt, server  # noqa: F401

USAGE = {"prompt_tokens": 3, "completion_tokens": 1}


async def test_without_a_key_no_authorization_is_sent(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    await openai_attempt(server, Reply(body=chat_completion(usage=USAGE)))
    [request] = server.requests
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"


async def test_account_headers_come_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-456")
    await openai_attempt(server, Reply(body=chat_completion(usage=USAGE)))
    [request] = server.requests
    assert (request.headers["openai-organization"], request.headers["openai-project"]) == ("org-123", "proj-456")


async def test_an_error_body_that_is_not_openai_shaped_is_quoted(server):
    with pytest.raises(ProviderError, match="HTTP 502: .*upstream timed out") as raised:
        await openai_attempt(server, Reply(502, "upstream timed out"))
    assert raised.value.retryable and raised.value.status == 502


async def test_a_long_error_body_is_cut_and_the_key_scrubbed(server):
    with pytest.raises(ProviderError) as raised:
        await openai_attempt(server, Reply(400, {"detail": f"bad {SECRET} " + "x" * 2000}))
    message = str(raised.value)
    assert SECRET not in message and "***" in message
    assert len(message) < 700 and message.endswith("…")


@pytest.mark.parametrize("url", ["http://[::1/v1", "127.0.0.1:8080/v1", "ftp://host/v1"])
def test_a_base_url_that_is_not_one_is_refused_at_once(url):
    with pytest.raises(LLMError, match="is not an http\\(s\\) URL"):
        OpenAIProvider("m", base_url=url)


def test_proxies_from_the_environment(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                 "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://api.openai.com/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert env_proxy("https://api.openai.com/v1") == "http://proxy:3128"
    assert env_proxy("http://127.0.0.1:8080/v1") is None  # exempt
    assert env_proxy("http://example.com/v1") is None  # no proxy named for http


def test_one_provider_serves_loop_after_loop_without_leaking(server, caplog):
    server.replies += [Reply(body=chat_completion(f"answer {i}", USAGE)) for i in range(3)]
    provider = OpenAIProvider("m", base_url=f"{server.url}/v1")

    async def ask() -> str:
        return (await provider.complete(MESSAGES, Params())).text

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR):
        warnings.simplefilter("always")
        texts = [asyncio.run(ask()) for _ in range(3)]  # each in a loop of its own, the last ones ended
        asyncio.run(provider.aclose())
        gc.collect()
    assert texts == ["answer 0", "answer 1", "answer 2"]
    assert not provider._client._sessions
    leaks = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert not leaks and "Unclosed" not in caplog.text
