"""Models behind one small async interface: ``LLM.complete(messages, params)``.

``make_llm("local:smollm2", role="target")`` is the usual way in; see
``registry`` for specs, ``client`` for what every call goes through.
"""
from reflectloop.core.llm.base import (
    BudgetExceeded,
    LLMError,
    MissingKeyError,
    MissingPackageError,
    Provider,
    ProviderError,
)
from reflectloop.core.llm.cache import Cache, MemoryCache, NullCache, ResponseCache, cache_key
from reflectloop.core.llm.client import LLM
from reflectloop.core.llm.pricing import Budget, Price, cost, price
from reflectloop.core.llm.registry import KNOWN_PROVIDERS, default_cache, make_llm, make_provider, parse_spec
from reflectloop.core.llm.tokens import count_tokens

__all__ = [
    "KNOWN_PROVIDERS",
    "LLM",
    "Budget",
    "BudgetExceeded",
    "Cache",
    "LLMError",
    "MemoryCache",
    "MissingKeyError",
    "MissingPackageError",
    "NullCache",
    "Price",
    "Provider",
    "ProviderError",
    "ResponseCache",
    "cache_key",
    "cost",
    "count_tokens",
    "default_cache",
    "make_llm",
    "make_provider",
    "parse_spec",
    "price",
]
