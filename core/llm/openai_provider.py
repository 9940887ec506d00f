"""``openai:MODEL``: OpenAI's API, or any OpenAI-compatible server (vLLM,
SGLang, Ollama, the llama.cpp server) through ``base_url``.  The requests go
out as plain JSON through ``core.llm.http`` (why not the SDK: see there)."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from reflectloop.core.llm.base import Embeddings, LLMError, MissingKeyError, ProviderError, embeddable, finish_reason, sample_seed
from reflectloop.core.llm.http import JSONClient
from reflectloop.core.llm.tokens import count_tokens, estimate_usage
from reflectloop.core.types import Completion, Message, Params, Usage

KEY_VARIABLE = "OPENAI_API_KEY"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
OPENAI_HOST = "api.openai.com"
OPENAI_URL = f"https://{OPENAI_HOST}/v1"
# Sent as the official SDK sends them, when set.
_ACCOUNT_HEADERS = (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project"))
# Reasoning models accept only their default sampling; sending temperature fails.
_FIXED_SAMPLING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class OpenAIProvider:
    default_concurrency = 8
    embed_batch = 64  # texts per embeddings request; OpenAI takes up to 2048

    def __init__(self, model: str, *, base_url: str | None = None, timeout: float = 120.0) -> None:
        self.model = model
        self.spec = f"openai:{model}"
        self.base_url = base_url or os.environ.get(BASE_URL_VARIABLE) or None
        if self.base_url is not None:
            _check_url(self.spec, self.base_url)
        self.timeout = timeout
        self._official = _is_official(self.base_url)
        key = os.environ.get(KEY_VARIABLE)
        if not key and self._official:
            raise MissingKeyError(KEY_VARIABLE)
        headers = {"user-agent": "reflectloop"}
        if key:  # servers other than OpenAI's rarely check it; none is sent when there is none
            headers["authorization"] = f"Bearer {key}"
        headers.update((header, os.environ[variable]) for variable, header in _ACCOUNT_HEADERS if os.environ.get(variable))
        self._client = JSONClient(
            self.base_url or OPENAI_URL, headers=headers, timeout=timeout, spec=self.spec,
            secret=key or None, key_variable=KEY_VARIABLE,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"OpenAIProvider({self.spec!r}, base_url={self.base_url!r})"

    def identity(self) -> str:
        """The model at its endpoint: the same name at another server is another model."""
        return f"{self.spec}@{(self.base_url or OPENAI_URL).rstrip('/')}"

    async def complete(self, messages: Sequence[Message], params: Params) -> Completion:
        return (await self.complete_n(messages, replace(params, n=1)))[0]

    async def complete_n(self, messages: Sequence[Message], params: Params) -> list[Completion]:
        """Every choice of one request for ``params.n``, in index order; the
        first carries the request's usage (what the API bills: the prompt
        once, every choice's tokens), the others none.  A server may send
        fewer choices than asked (llama.cpp ignores ``n``)."""
        started = time.perf_counter()
        data = await self._client.post("/chat/completions", self._request(messages, params))
        latency = time.perf_counter() - started
        choices = [(self._text(choice), finish_reason(choice.get("finish_reason"))) for choice in self._choices(data)]
        usage = _usage(data.get("usage"), messages, "".join(text for text, _ in choices))
        return [
            Completion(text=text, usage=usage if j == 0 else Usage(0, 0), latency=latency, cached=False,
                       model=self.spec, finish_reason=reason)
            for j, (text, reason) in enumerate(choices)
        ]

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        started = time.perf_counter()
        sent = embeddable(texts)
        data = await self._client.post("/embeddings", {"model": self.model, "input": sent, "encoding_format": "float"})
        latency = time.perf_counter() - started
        vectors = self._vectors(data, len(sent))
        usage = data.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int):
            return Embeddings(vectors, Usage(tokens, 0), latency)
        return Embeddings(vectors, Usage(sum(count_tokens(t) for t in sent), 0, estimated=True), latency)

    def _choices(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The choices in index order; a malformed body is a retryable failure."""
        choices = data.get("choices")
        if not choices or not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            # Seen from overloaded compatible servers; another attempt usually answers.
            raise ProviderError(f"{self.spec}: the response has no choices", retryable=True)
        return sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0)

    def _text(self, choice: dict[str, Any]) -> str:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ProviderError(f"{self.spec}: the response's choice has no message", retryable=True)
        content = message.get("content")
        return content if isinstance(content, str) else ""

    def _vectors(self, data: dict[str, Any], expected: int) -> tuple[tuple[float, ...], ...]:
        items = data.get("data")
        if not isinstance(items, list):
            raise ProviderError(f"{self.spec}: the embeddings response has no data", retryable=True)
        if len(items) != expected:
            raise ProviderError(f"{self.spec}: asked for {expected} embeddings, got {len(items)}", retryable=False)
        # The order of ``data`` is not promised; ``index`` is.
        ordered = sorted(items, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
        vectors = tuple(v for item in ordered if (v := _vector(item)) is not None)
        if len(vectors) < len(ordered):
            raise ProviderError(
                f"{self.spec}: an embedding is neither a list of numbers nor a list of token vectors", retryable=False
            )
        return vectors

    async def aclose(self) -> None:
        await self._client.aclose()

    def _request(self, messages: Sequence[Message], params: Params) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if params.max_tokens is None:
            pass  # no cap sent: the server allows as much as the model and context do
        elif self._official:
            # OpenAI deprecated max_tokens (reasoning models refuse it);
            # compatible servers mostly know only max_tokens.
            request["max_completion_tokens"] = params.max_tokens
        else:
            request["max_tokens"] = params.max_tokens
        if not (self._official and self.model.startswith(_FIXED_SAMPLING_PREFIXES)):
            request["temperature"] = params.temperature
            request["top_p"] = params.top_p
        if params.stop:
            request["stop"] = list(params.stop)
        seed = sample_seed(params, default=None)
        if seed is not None:
            request["seed"] = seed
        if params.n > 1:  # sent only when asked: a one-choice request stays as it always was
            request["n"] = params.n
        return request


def _check_url(spec: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        ok = False
    if not ok:
        raise LLMError(f"{spec}: the base URL {url!r} is not an http(s) URL such as http://127.0.0.1:8080/v1")


def _is_official(base_url: str | None) -> bool:
    return base_url is None or urlsplit(base_url).hostname == OPENAI_HOST


def _vector(item: Any) -> tuple[float, ...] | None:
    """One text's vector.  llama-cpp-python's server answers with a vector
    per token for a model that has no pooling of its own (any chat model);
    those are mean-pooled here, as the local provider pools them."""
    embedding = item.get("embedding") if isinstance(item, dict) else None
    if not isinstance(embedding, list):
        return None
    if _numbers(embedding):
        return tuple(float(x) for x in embedding)
    if not embedding or not all(isinstance(t, list) and _numbers(t) for t in embedding):
        return None
    if len({len(t) for t in embedding}) != 1:
        return None
    return tuple(sum(column) / len(embedding) for column in zip(*embedding))


def _numbers(values: list) -> bool:
    # bool is an int to Python, never a coordinate.
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values)


def _usage(usage: Any, messages: Sequence[Message], text: str) -> Usage:
    # Some compatible servers omit usage, or send it with nulls.
    usage = usage if isinstance(usage, dict) else {}
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt_tokens, int):
        return estimate_usage(messages, text)
    return Usage(prompt_tokens, completion_tokens if isinstance(completion_tokens, int) else 0)
