"""``anthropic:MODEL``: Anthropic's Messages API.

System messages travel in the ``system`` parameter, not in the conversation.
The Messages API of the installed SDK has no sampling controls (no
temperature, top_p or seed), so those fields of ``Params`` are not sent; they
still key the cache, so n samples remain n distinct calls.  The API has no
``n`` either: a request for n choices is sent as n requests (``LLM.choices``),
each billed.

The API requires ``max_tokens``.  ``Params.max_tokens=None`` (no cap asked)
sends the model's own output limit from ``OUTPUT_LIMITS`` (snapshots of a
listed model share its limit), or ``DEFAULT_OUTPUT_LIMIT`` for a model not
listed: every Claude model accepts that many.  A long answer takes long:
give a ``timeout`` that fits.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from reflectloop.core.llm.base import (
    MissingKeyError,
    MissingPackageError,
    ProviderError,
    finish_reason,
    sdk_error,
)
from reflectloop.core.llm.pricing import listed_name
from reflectloop.core.llm.tokens import estimate_usage
from reflectloop.core.types import Completion, Message, Params, Usage

try:
    import anthropic
except ImportError:  # reported when an anthropic: model is asked for
    anthropic = None  # type: ignore[assignment]  # mypy types the name as the module; None means absent

KEY_VARIABLE = "ANTHROPIC_API_KEY"
BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"
ANTHROPIC_HOST = "api.anthropic.com"
PLACEHOLDER_KEY = "no-key-needed"

# Output tokens each model may write in one answer (Anthropic's model overview).
OUTPUT_LIMITS = {
    "claude-3-haiku": 4096,
    "claude-3-sonnet": 4096,
    "claude-3-opus": 4096,
    "claude-3-5-haiku": 8192,
    "claude-3-5-sonnet": 8192,
    "claude-3-7-sonnet": 64000,
    "claude-sonnet-4": 64000,
    "claude-sonnet-4-5": 64000,
    "claude-haiku-4-5": 64000,
    "claude-opus-4": 32000,
    "claude-opus-4-1": 32000,
    "claude-opus-4-5": 64000,
}
DEFAULT_OUTPUT_LIMIT = 4096
# Anthropic's stop reasons in the words of Completion.finish_reason; others pass as they are.
_FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "model_context_window_exceeded": "length"}


class AnthropicProvider:
    default_concurrency = 4

    def __init__(self, model: str, *, base_url: str | None = None, timeout: float = 120.0) -> None:
        if anthropic is None:
            raise MissingPackageError("anthropic", f"anthropic:{model}")
        self.model = model
        self.spec = f"anthropic:{model}"
        self.base_url = base_url or os.environ.get(BASE_URL_VARIABLE) or None
        self.timeout = timeout
        key = os.environ.get(KEY_VARIABLE)
        if not key and _is_official(self.base_url):
            raise MissingKeyError(KEY_VARIABLE)
        self._key = key or None  # kept only to scrub it from error text
        self._client = anthropic.AsyncAnthropic(
            api_key=key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            max_retries=0,  # LLM retries, and records every attempt
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"AnthropicProvider({self.spec!r}, base_url={self.base_url!r})"

    def identity(self) -> str:
        """The model at its endpoint: the same name at another server is another model."""
        return f"{self.spec}@{(self.base_url or str(self._client.base_url)).rstrip('/')}"

    async def complete(self, messages: Sequence[Message], params: Params) -> Completion:
        started = time.perf_counter()
        try:
            response = await self._client.messages.create(**self._request(messages, params))
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from None  # the SDK's text is in ours, scrubbed
        except json.JSONDecodeError as exc:
            # A cut or garbled body from an overloaded server or a proxy.
            raise ProviderError(f"{self.spec}: the response is not valid JSON: {exc}", retryable=True) from None
        latency = time.perf_counter() - started
        # The SDK builds its response objects without validating them, so a
        # malformed body shows up as missing fields here.  An empty list is
        # a valid answer (the model ended its turn at once).
        content = getattr(response, "content", None)
        if not isinstance(content, list):
            raise ProviderError(f"{self.spec}: the response has no content", retryable=True)
        text = "".join(getattr(b, "text", None) or "" for b in content if getattr(b, "type", None) == "text")
        return Completion(
            text=text,
            usage=_usage(getattr(response, "usage", None), messages, text),
            latency=latency,
            cached=False,
            model=self.spec,
            finish_reason=_finish_reason(getattr(response, "stop_reason", None)),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _request(self, messages: Sequence[Message], params: Params) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens if params.max_tokens is not None else output_limit(self.model),
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
        }
        if system:
            request["system"] = system
        if params.stop:
            request["stop_sequences"] = list(params.stop)
        return request

    def _error(self, exc: Exception) -> ProviderError:
        where = self.base_url or f"https://{ANTHROPIC_HOST}"
        return sdk_error(exc, anthropic, spec=self.spec, where=where, timeout=self.timeout, key=self._key, key_variable=KEY_VARIABLE)

def output_limit(model: str) -> int:
    """The most output tokens ``model`` may write in one answer."""
    listed = listed_name(OUTPUT_LIMITS, model)
    return OUTPUT_LIMITS[listed] if listed is not None else DEFAULT_OUTPUT_LIMIT


def _finish_reason(stop_reason: object) -> str | None:
    reason = finish_reason(stop_reason)
    return _FINISH_REASONS.get(reason, reason) if reason is not None else None


def _is_official(base_url: str | None) -> bool:
    return base_url is None or urlsplit(base_url).hostname == ANTHROPIC_HOST


def _usage(usage: Any, messages: Sequence[Message], text: str) -> Usage:
    input_tokens = getattr(usage, "input_tokens", None)
    if not isinstance(input_tokens, int):
        return estimate_usage(messages, text)
    output_tokens = getattr(usage, "output_tokens", None)
    return Usage(input_tokens, output_tokens if isinstance(output_tokens, int) else 0)
