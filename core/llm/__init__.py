"""Models behind one small async interface: ``LLM.complete(messages, params)``.

``make_llm("local:smollm2", role="target")`` is the usual way in; see
``registry`` for specs, ``client`` for what every call goes through.
"""
from core.llm.base import (
    BudgetExceeded,
    LLMError,
    MissingKeyError,
    MissingPackageError,
    Provider,
    ProviderError,
)
from core.llm.cache import Cache, MemoryCache, NullCache, ResponseCache, cache_key
from core.llm.client import LLM
from core.llm.pricing import Budget, Price, cost, price
from core.llm.registry import KNOWN_PROVIDERS, default_cache, make_llm, make_provider, parse_spec
from core.llm.tokens import count_tokens

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
