"""The provider interface and the errors every model backend speaks.

A provider makes one raw attempt at a completion.  Caching, retries,
concurrency limits, budgets and call records live in ``client.LLM``, so each
backend only has to translate its request and its failures.
"""
from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from reflectloop.core.types import Completion, Message, Params, Usage

# Statuses worth another attempt: request timeout, lock timeout, rate limit.
# Every 5xx is added by ``is_retryable_status``.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


class LLMError(Exception):
    """Base of every error raised by ``core.llm``."""


class ProviderError(LLMError):
    """One failed attempt, classified so the client knows whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class ContextExceeded(ProviderError):
    """A request that does not fit its model's context: the provider refused
    it, or it was never sent.  Another attempt cannot help; a shorter
    request can."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)


# How servers word a request over the context: the llama.cpp server ("exceeds
# the available context size"), vLLM ("maximum context length"), OpenAI
# (context_length_exceeded), Anthropic ("prompt is too long").
_OVER_CONTEXT = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|exceeds? the (available )?context|prompt is too long",
    re.I,
)


class MissingKeyError(LLMError):
    """An API key the provider needs is not in the environment."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"{variable} is not set: export it, or use the embedded model local:smollm2")
        self.variable = variable


class MissingPackageError(LLMError):
    """A Python package the provider needs is not installed."""

    def __init__(self, package: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the {package!r} package: pip install {package}")
        self.package = package


class BudgetExceeded(LLMError):
    """The run's token or cost budget is spent; the loop stops cleanly on it."""


@runtime_checkable
class Provider(Protocol):
    """One model backend.  ``complete`` is a single raw attempt: no cache and
    no retry.  It raises ``ProviderError`` with ``retryable`` set for rate
    limits, timeouts, 5xx and connection failures, unset for other 4xx.

    A provider whose API answers one request with ``n`` choices also has
    ``complete_n(messages, params)``: every choice of one request for
    ``params.n``, the first carrying the request's usage.  Without it,
    ``LLM.choices`` asks for the n choices as n separate requests."""

    spec: str
    default_concurrency: int

    async def complete(self, messages: Sequence[Message], params: Params) -> Completion: ...


Vector = tuple[float, ...]


@dataclass(frozen=True)
class Embeddings:
    """One provider answer to one embeddings request."""

    vectors: tuple[Vector, ...]  # one per text sent, in order
    usage: Usage  # prompt tokens only
    latency: float


@runtime_checkable
class EmbeddingProvider(Protocol):
    """A provider that also embeds texts; ``embed`` is one raw attempt on at
    most ``embed_batch`` texts, failing as ``complete`` does."""

    spec: str
    embed_batch: int

    async def embed(self, texts: Sequence[str]) -> Embeddings: ...


def embeddable(texts: Sequence[str]) -> list[str]:
    """The texts as an embeddings request may carry them: OpenAI refuses an
    empty input and llama.cpp crashes on one (no token to pool), so a blank
    text is sent as a space, which embeds "nothing" well enough."""
    return [t if t.strip() else " " for t in texts]


def finish_reason(value: object) -> str | None:
    """A provider's finish reason as a string, None when it sent none."""
    return value if isinstance(value, str) and value else None


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE_STATUSES or status >= 500


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after``
    (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds: float | None = float(value) / divisor
        except ValueError:
            seconds = _seconds_until_http_date(value, now)
        if seconds is not None and math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def _seconds_until_http_date(value: str, now: float | None) -> float | None:
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return email.utils.mktime_tz(parsed) - (time.time() if now is None else now)


def should_retry(status: int, headers: Mapping[str, str] | None) -> bool:
    """The server may say so explicitly (``x-should-retry``, used by OpenAI and
    Anthropic); otherwise the status decides."""
    explicit = (headers or {}).get("x-should-retry")
    if explicit in ("true", "false"):
        return explicit == "true"
    return is_retryable_status(status)


def sample_seed(params: Params, default: int | None) -> int | None:
    """The seed for one sample: the requested (or default) seed shifted by the
    sample index, so n samples at temperature > 0 differ from each other yet
    each one is reproducible.  None when there is no seed to pass."""
    base = params.seed if params.seed is not None else default
    if base is None:
        return None
    return (base + 7919 * params.sample) % 2**31


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced, for error messages that quote
    server responses (a 401 body may echo the key it was sent)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def sdk_error(exc: Exception, sdk, *, spec: str, where: str, timeout: float, key: str | None, key_variable: str) -> ProviderError:
    """Classify an exception of the ``anthropic`` SDK (the ``openai`` SDK's
    share its names).  The key is redacted from every message."""
    if isinstance(exc, sdk.APITimeoutError):
        return timeout_error(spec, where, timeout)
    if isinstance(exc, sdk.APIConnectionError):
        return unreachable_error(spec, where, redact(str(exc.__cause__ or exc), key))
    text = redact(str(exc), key)
    if isinstance(exc, sdk.APIStatusError):
        # Rate-limit, server and overload errors are subclasses; the status
        # and the server's headers decide.
        return status_error(spec, exc.status_code, exc.response.headers, text, key_variable)
    return ProviderError(f"{spec}: {text}", retryable=False)


# Every provider's failures in the same words, whatever its client raised.
def timeout_error(spec: str, where: str, timeout: float) -> ProviderError:
    return ProviderError(f"{spec}: no answer from {where} within {timeout:g}s", retryable=True)


def unreachable_error(spec: str, where: str, cause: str) -> ProviderError:
    return ProviderError(f"{spec}: cannot reach {where}: {cause}", retryable=True)


def status_error(spec: str, status: int, headers: Mapping[str, str], text: str, key_variable: str) -> ProviderError:
    """A failed status: the status and the server's headers decide whether
    to retry and when; a 401/403 names the key's variable."""
    hint = f" (check {key_variable})" if status in (401, 403) else ""
    if status in (400, 413, 422) and _OVER_CONTEXT.search(text):
        return ContextExceeded(f"{spec}: HTTP {status}: the request exceeds the model's context: {text}", status=status)
    return ProviderError(
        f"{spec}: HTTP {status}: {text}{hint}",
        retryable=should_retry(status, headers),
        retry_after=parse_retry_after(headers),
        status=status,
    )
