"""From a spec string (``provider:model``) to a ready ``LLM``.

Providers are imported only when asked for, so a run on the embedded model
never pays for importing the HTTP client or the Anthropic SDK.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import EllipsisType
from typing import Any

from reflectloop.core.settings import paths
from reflectloop.core.llm.base import LLMError, Provider
from reflectloop.core.llm.cache import Cache, NullCache, ResponseCache
from reflectloop.core.llm.client import LLM
from reflectloop.core.llm.pricing import Budget
from reflectloop.core.types import CallRecord

KNOWN_PROVIDERS = ("anthropic", "local", "openai")

_caches: dict[Path, ResponseCache] = {}
_caches_lock = threading.Lock()


def parse_spec(spec: str) -> tuple[str, str]:
    """``"openai:gpt-4o"`` → ``("openai", "gpt-4o")``.  Only the first colon
    separates: model names may contain colons (``openai:llama3:8b``)."""
    provider, colon, model = spec.partition(":")
    if not colon or not provider or not model:
        raise LLMError(f"model spec {spec!r} must look like provider:model, e.g. local:smollm2")
    if provider not in KNOWN_PROVIDERS:
        raise LLMError(f"unknown provider {provider!r} in {spec!r}: known providers are {', '.join(KNOWN_PROVIDERS)}")
    return provider, model


def make_provider(spec: str, *, base_url: str | None = None, timeout: float | None = None) -> Provider:
    """``timeout``: seconds one attempt at a hosted model may take (default:
    the provider's own); the in-process model has none."""
    provider, model = parse_spec(spec)
    hosted = {} if timeout is None else {"timeout": timeout}
    if provider == "openai":
        from reflectloop.core.llm.openai_provider import OpenAIProvider

        return OpenAIProvider(model, base_url=base_url, **hosted)
    if provider == "anthropic":
        from reflectloop.core.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(model, base_url=base_url, **hosted)
    if base_url is not None:
        raise LLMError(f"{spec} runs in-process and takes no base_url; use openai:MODEL for a server")
    from reflectloop.core.llm.local import LocalProvider

    return LocalProvider(model)


def default_cache(path: str | Path | None = None) -> ResponseCache:
    """The process's response cache for ``path`` (default: the user's cache
    file): one connection per file, shared by every model."""
    resolved = Path(path) if path is not None else paths.response_cache_path()
    with _caches_lock:
        if resolved not in _caches:
            _caches[resolved] = ResponseCache(resolved)
        return _caches[resolved]


def make_llm(
    spec: str,
    *,
    role: str,
    base_url: str | None = None,
    concurrency: int | None = None,
    cache: Cache | None | EllipsisType = ...,
    budget: Budget | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    backoff: float | None = None,
) -> LLM:
    """An ``LLM`` for ``spec``.  ``cache`` left out means the on-disk
    response cache (``default_cache()``); ``None`` means no caching.
    ``timeout`` (per attempt), ``retries`` and ``backoff`` left out keep the
    provider's and ``LLM``'s defaults."""
    if cache is ...:
        cache = default_cache()
    elif cache is None:
        cache = NullCache()
    provider = make_provider(spec, base_url=base_url, timeout=timeout)
    pacing: dict[str, Any] = {k: v for k, v in (("retries", retries), ("backoff", backoff)) if v is not None}
    return LLM(provider, role=role, concurrency=concurrency, cache=cache, budget=budget, on_call=on_call, **pacing)
