"""``openai:MODEL``: OpenAI's API, or any OpenAI-compatible server (vLLM,
SGLang, Ollama, the llama.cpp server) through ``base_url``."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from core.llm.base import (
    MissingKeyError,
    MissingPackageError,
    ProviderError,
    sdk_error,
    sample_seed,
)
from core.llm.tokens import estimate_usage
from core.types import Completion, Message, Params, Usage

try:
    import openai
except ImportError:  # reported when an openai: model is asked for
    openai = None

KEY_VARIABLE = "OPENAI_API_KEY"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
OPENAI_HOST = "api.openai.com"
# Servers other than OpenAI's rarely check the key, but the SDK insists on one.
PLACEHOLDER_KEY = "no-key-needed"
# Reasoning models accept only their default sampling; sending temperature fails.
_FIXED_SAMPLING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class OpenAIProvider:
    default_concurrency = 8

    def __init__(self, model: str, *, base_url: str | None = None, timeout: float = 120.0) -> None:
        if openai is None:
            raise MissingPackageError("openai", f"openai:{model}")
        self.model = model
        self.spec = f"openai:{model}"
        self.base_url = base_url or os.environ.get(BASE_URL_VARIABLE) or None
        self.timeout = timeout
        self._official = _is_official(self.base_url)
        key = os.environ.get(KEY_VARIABLE)
        if not key and self._official:
            raise MissingKeyError(KEY_VARIABLE)
        # Kept only to scrub it from error text; never shown.
        self._key = key or None
        self._client = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            max_retries=0,  # LLM retries, and records every attempt
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"OpenAIProvider({self.spec!r}, base_url={self.base_url!r})"

    async def complete(self, messages: Sequence[Message], params: Params) -> Completion:
        started = time.perf_counter()
        try:
            # ``post`` is the SDK's documented way to send a request as is.
            # ``chat.completions.create`` would run its TypedDict transform
            # over the body and build pydantic objects from the answer: about
            # 1 ms of CPU a call, the larger part of the client's cost at high
            # concurrency, for the same JSON out (every field sent here is a
            # plain value) and two fields read back.  ``cast_to=object`` hands
            # back the decoded JSON; failed statuses still raise as usual.
            data = await self._client.post(
                "/chat/completions", body=self._request(messages, params), cast_to=object
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from None  # the SDK's text is in ours, scrubbed
        except json.JSONDecodeError as exc:
            # A cut or garbled body from an overloaded server or a proxy.
            raise ProviderError(f"{self.spec}: the response is not valid JSON: {exc}", retryable=True) from None
        latency = time.perf_counter() - started
        text = self._text(data)
        return Completion(
            text=text,
            usage=_usage(data.get("usage"), messages, text),
            latency=latency,
            cached=False,
            model=self.spec,
        )

    def _text(self, data: Any) -> str:
        """The answer's text; a malformed body is a retryable failure."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list):
            # Seen from overloaded compatible servers; another attempt usually answers.
            raise ProviderError(f"{self.spec}: the response has no choices", retryable=True)
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        if not isinstance(message, dict):
            raise ProviderError(f"{self.spec}: the response's choice has no message", retryable=True)
        content = message.get("content")
        return content if isinstance(content, str) else ""

    async def aclose(self) -> None:
        await self._client.close()

    def _request(self, messages: Sequence[Message], params: Params) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if self._official:
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
        return request

    def _error(self, exc: Exception) -> ProviderError:
        where = self.base_url or f"https://{OPENAI_HOST}"
        return sdk_error(exc, openai, spec=self.spec, where=where, timeout=self.timeout, key=self._key, key_variable=KEY_VARIABLE)

def _is_official(base_url: str | None) -> bool:
    return base_url is None or urlsplit(base_url).hostname == OPENAI_HOST


def _usage(usage: Any, messages: Sequence[Message], text: str) -> Usage:
    # Some compatible servers omit usage, or send it with nulls.
    usage = usage if isinstance(usage, dict) else {}
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt_tokens, int):
        return estimate_usage(messages, text)
    return Usage(prompt_tokens, completion_tokens if isinstance(completion_tokens, int) else 0)
