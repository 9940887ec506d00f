"""The concurrency limit: a call takes its slot before the cache is looked
up, so of many calls started at once the first go out at once; every way a
call ends (a hit, an answer, a failure, a retry) gives the slot back."""
from __future__ import annotations

import asyncio

import pytest

from reflectloop.core.llm.base import ProviderError
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.llm.client import LLM
from reflectloop.core.types import Params
from tests.test_llm import MESSAGES, ScriptedProvider, retryable, scripted_llm


class CountingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def get(self, key):
        self.lookups += 1
        return super().get(key)


class Watched(ScriptedProvider):
    """Notes how many lookups the cache had seen when each call reached it."""

    def __init__(self, cache: CountingCache, **options) -> None:
        super().__init__(**options)
        self.cache = cache
        self.lookups_at_call: list[int] = []

    async def complete(self, messages, params):
        self.lookups_at_call.append(self.cache.lookups)
        return await super().complete(messages, params)


@pytest.mark.asyncio
async def test_a_call_is_looked_up_only_once_it_holds_a_slot():
    cache = CountingCache()
    provider = Watched(cache, delay=0.02)
    llm = LLM(provider, role="target", cache=cache, concurrency=2)
    await asyncio.gather(*(llm.complete(MESSAGES, Params(sample=i)) for i in range(10)))
    # Each call is looked up when its turn comes; looked up first, the third call
    # would have found every one of the ten looked up already.
    assert provider.lookups_at_call == list(range(1, 11))
    assert provider.max_in_flight == 2 and provider.calls == cache.lookups == 10


@pytest.mark.asyncio
async def test_every_way_a_call_ends_gives_its_slot_back():
    fatal = ProviderError("HTTP 400: bad request", retryable=False, status=400)
    llm, provider, records = scripted_llm("first", fatal, retryable(), "after a retry", cache=MemoryCache(),
                                          concurrency=1, delay=0.001)
    await llm.complete(MESSAGES, Params(sample=0))
    assert (await llm.complete(MESSAGES, Params(sample=0))).cached  # a hit
    with pytest.raises(ProviderError, match="bad request"):
        await llm.complete(MESSAGES, Params(sample=1))
    assert (await llm.complete(MESSAGES, Params(sample=2))).text == "after a retry"
    # One slot, so a slot kept by any of them would leave these waiting for ever.
    done = await asyncio.wait_for(asyncio.gather(*(llm.complete(MESSAGES, Params(sample=k)) for k in (3, 4))), 5)
    assert len(done) == 2 and provider.max_in_flight == 1 and llm.busy == 0
