"""``LLM``: what the rest of reflectloop calls.  It wraps one provider with
the response cache, a concurrency limit, retries, the budget, counters and a
call record for every attempt."""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

from core.llm.base import Provider, ProviderError
from core.llm.cache import Cache, NullCache, cache_key
from core.llm.pricing import Budget, Price, cost, price
from core.types import CallRecord, Completion, Message, Params

# Exponential backoff stops growing here; a server's Retry-After may still ask for more.
MAX_BACKOFF = 60.0


class LLM:
    """One model in one role (``target``, ``optimizer``).

    ``retries`` is the number of attempts after the first, for retryable
    failures only.  ``concurrency`` defaults to the provider's own limit.
    ``on_call`` receives a ``CallRecord`` for every cache hit, success and
    failed attempt, in the order they happen."""

    def __init__(
        self,
        provider: Provider,
        *,
        role: str,
        concurrency: int | None = None,
        cache: Cache | None = None,
        budget: Budget | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self.provider = provider
        self.role = role
        self.concurrency = concurrency or provider.default_concurrency
        self.cache: Cache = cache if cache is not None else NullCache()
        self.budget = budget
        self.retries = retries
        self.backoff = backoff
        self.on_call = on_call
        self.calls = 0  # successful provider calls (cache hits excluded)
        self.cache_hits = 0
        self.failed_attempts = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0
        self.busy = 0  # provider calls in flight right now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"LLM({self.spec!r}, role={self.role!r}, concurrency={self.concurrency})"

    @property
    def spec(self) -> str:
        return self.provider.spec

    @property
    def price(self) -> Price:
        return price(self.spec)

    async def complete(
        self, messages: Sequence[Message], params: Params, *, purpose: str = ""
    ) -> Completion:
        messages = tuple(messages)
        key = cache_key(self.spec, messages, params)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache_hits += 1
            self._emit(self._record(messages, params, purpose, 1, completion=hit))
            return hit
        attempt = 1
        while True:
            try:
                completion = await self._attempt(messages, params, purpose, attempt)
            except ProviderError as exc:
                if not exc.retryable or attempt > self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
                attempt += 1
            else:
                self._account(messages, params, purpose, attempt, completion)
                self.cache.put(key, completion)
                return completion

    async def aclose(self) -> None:
        """Release the provider's connections, when it holds any."""
        close = getattr(self.provider, "aclose", None)
        if close is not None:
            await close()

    async def _attempt(
        self, messages: tuple[Message, ...], params: Params, purpose: str, attempt: int
    ) -> Completion:
        """One provider call within the concurrency limit; a failure is recorded
        here, with the time the attempt took."""
        async with self._limit():
            # Checked after the wait for a slot, so queued calls see what the
            # calls ahead of them spent.
            if self.budget is not None:
                self.budget.check()
            self.busy += 1
            started = time.perf_counter()
            try:
                return await self.provider.complete(messages, params)
            except Exception as exc:
                self.failed_attempts += 1
                latency = time.perf_counter() - started
                self._emit(
                    self._record(messages, params, purpose, attempt, latency=latency, error=_cause(exc))
                )
                raise
            finally:
                self.busy -= 1

    def _account(
        self,
        messages: tuple[Message, ...],
        params: Params,
        purpose: str,
        attempt: int,
        completion: Completion,
    ) -> None:
        usage = completion.usage
        spent = cost(self.spec, usage)
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += spent
        if self.budget is not None:
            self.budget.charge(spent, usage.prompt_tokens + usage.completion_tokens)
        self._emit(self._record(messages, params, purpose, attempt, completion=completion, cost=spent))

    def _limit(self) -> asyncio.Semaphore:
        # A semaphore belongs to the loop it first waits on; an LLM outlives
        # loops (tests, a headless run before the TUI), so keep one per loop.
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._loop, self._semaphore = loop, asyncio.Semaphore(self.concurrency)
        return self._semaphore

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # Jitter spreads out callers that failed together, so they do not
        # return together; the server's Retry-After is a floor.
        ceiling = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
        return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)

    def _record(
        self,
        messages: tuple[Message, ...],
        params: Params,
        purpose: str,
        attempt: int,
        *,
        completion: Completion | None = None,
        latency: float = 0.0,
        error: str | None = None,
        cost: float = 0.0,
    ) -> CallRecord:
        return CallRecord(
            model=self.spec,
            role=self.role,
            purpose=purpose,
            messages=messages,
            params=params,
            text=completion.text if completion else None,
            usage=completion.usage if completion else None,
            latency=completion.latency if completion else latency,
            cached=completion.cached if completion else False,
            attempt=attempt,
            error=error,
            cost=cost,
        )

    def _emit(self, record: CallRecord) -> None:
        if self.on_call is not None:
            self.on_call(record)


def _cause(exc: BaseException) -> str:
    # ProviderError messages are written for people; anything else is a bug
    # in a provider and its type is the first clue.
    return str(exc) if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
