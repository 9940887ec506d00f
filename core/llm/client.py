"""``LLM``: what the rest of reflectloop calls.  It wraps one provider with
the response cache, a concurrency limit, retries, the budget, counters and a
call record for every attempt, for completions and embeddings alike."""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from reflectloop.core.llm.base import EmbeddingProvider, Embeddings, LLMError, Provider, ProviderError, Vector
from reflectloop.core.llm.cache import Cache, NullCache, cache_key, embedding_key
from reflectloop.core.llm.pricing import Budget, Price, cost, metering, price
from reflectloop.core.types import CallRecord, Completion, Message, Params, Usage

# Exponential backoff stops growing here; a server's Retry-After may still ask for more.
MAX_BACKOFF = 60.0
# The parameters an embeddings call record shows: none are sampled, no token is generated.
EMBED_PARAMS = Params(max_tokens=0)
T = TypeVar("T")


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
        if concurrency is not None and concurrency < 1:
            raise LLMError(f"{provider.spec}: concurrency must be at least 1, got {concurrency}")
        if budget is not None and budget.max_cost and not price(provider.spec).known:
            # Priced at 0, its calls would never spend the budget: the run would never stop.
            raise LLMError(f"{provider.spec} has no price in reflectloop's price table (core/llm/pricing.py), "
                           "so --max-cost cannot be kept for it: drop --max-cost, or limit tokens with --max-tokens")
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
        self._identity: str | None = None
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

    async def identity(self) -> str:
        """What answers, as the response cache names it: the provider's
        ``identity()`` (the spec and the endpoint, or the model file), the
        spec for a provider that has none.  Found once: a local model's
        digest reads the whole file, off the event loop."""
        identity = self._identity
        if identity is None:
            find: Callable[[], str] | None = getattr(self.provider, "identity", None)
            identity = self.spec if find is None else await asyncio.to_thread(find)
            self._identity = identity
        return identity

    async def overflow(self, messages: Sequence[Message], params: Params) -> str | None:
        """Why the request cannot fit the model's context (its prompt and
        room for its answer), or None: it fits, or the provider cannot tell
        before it is sent (a server's refusal is then ``ContextExceeded``)."""
        check = getattr(self.provider, "overflow", None)
        return None if check is None else await check(tuple(messages), params)

    async def complete(
        self, messages: Sequence[Message], params: Params, *, purpose: str = "",
        keep: Callable[[Completion], bool] | None = None,
    ) -> Completion:
        """One answer (``params.n`` is 1: ``choices`` asks for several).
        ``keep``: whether an answer may be cached; one the caller cannot
        use (a judge's reply with no verdict) is a failed result, asked again
        by a resume instead of replayed."""
        return (await self._choices(tuple(messages), params, purpose, keep, self._one))[0]

    async def _one(self, messages: Sequence[Message], params: Params) -> list[Completion]:
        return [await self.provider.complete(messages, params)]

    async def choices(
        self, messages: Sequence[Message], params: Params, *, purpose: str = "",
        keep: Callable[[Completion], bool] | None = None,
    ) -> list[Completion]:
        """The ``params.n`` choices of one request, in order.  A provider with
        ``complete_n`` (an API with ``n``) is sent one request and billed
        once; its choices are cached one entry each and replayed only all
        together.  A provider without it (Anthropic's API has no ``n``; the
        embedded model draws one answer at a time) answers n separate
        requests, choice j as sample ``params.sample + j``, each billed, cached
        and recorded as one call."""
        if params.n <= 1:
            return [await self.complete(messages, params, purpose=purpose, keep=keep)]
        draw: Callable[[Sequence[Message], Params], Awaitable[Sequence[Completion]]] | None = getattr(
            self.provider, "complete_n", None)
        if draw is None:
            return list(await asyncio.gather(*(
                self.complete(messages, replace(params, n=1, sample=params.sample + j), purpose=purpose, keep=keep)
                for j in range(params.n))))
        return await self._choices(tuple(messages), params, purpose, keep, draw)

    async def _choices(self, messages: tuple[Message, ...], params: Params, purpose: str,
                       keep: Callable[[Completion], bool] | None,
                       draw: Callable[[Sequence[Message], Params], Awaitable[Sequence[Completion]]]) -> list[Completion]:
        """The ``params.n`` choices ``draw`` answers in one request, from the
        cache when every one is there; each cached apart (``keep`` permitting)."""
        # The slot comes first, then the cache: of hundreds of calls started
        # at once (an evaluation), the first ones are looked up and sent at
        # once, instead of after every one of them has been looked up.
        limit = self._limit()
        await limit.acquire()
        held = True
        try:
            identity = await self.identity()
            keys = [cache_key(identity, messages, params, choice=j) for j in range(params.n)]
            hits = [self.cache.get(key) for key in keys]
            if all(hit is not None for hit in hits):
                found = [hit for hit in hits if hit is not None]
                self.cache_hits += 1
                self._emit(self._record(messages, params, purpose, 1, completion=found[0], choices=_texts(found)))
                return found
            held = False  # the first attempt takes the slot over
            got = await self._request_choices(messages, params, purpose, draw, held=True)
        finally:
            if held:
                limit.release()
        # A server that ignores ``n`` (llama.cpp's) sends fewer: the rest are
        # asked for again, a request each, at the next samples' seeds.
        while len(got) < params.n:
            more = replace(params, n=params.n - len(got), sample=params.sample + len(got))
            got += await self._request_choices(messages, more, purpose, draw)
        got = got[: params.n]
        for key, completion in zip(keys, got):
            if keep is None or keep(completion):
                self.cache.put(key, completion)
        return got

    async def _request_choices(self, messages: tuple[Message, ...], params: Params, purpose: str,
                               draw: Callable[[Sequence[Message], Params], Awaitable[Sequence[Completion]]],
                               held: bool = False) -> list[Completion]:
        """One request for ``params.n`` choices, retried; billed and recorded once."""

        def failed(attempt: int, latency: float, error: str) -> CallRecord:
            return self._record(messages, params, purpose, attempt, latency=latency, error=error)

        answer, attempt = await self._retrying(lambda: draw(messages, params), failed, held=held)
        got = list(answer)
        if not got:  # a provider bug: an empty answer raises a retryable error
            raise LLMError(f"{self.spec}: a request for {params.n} choices returned none")
        spent = self._account(got[0].usage)  # the first carries the request's usage
        self._emit(self._record(messages, params, purpose, attempt, completion=got[0], cost=spent,
                                choices=_texts(got)))
        return got

    async def embed(self, texts: Sequence[str], *, purpose: str = "embed") -> list[Vector]:
        """One vector per text, in order.  Each distinct text is cached by
        (model, text); the others go to the provider in batches of its
        ``embed_batch``, each batch one call with retries, recorded like a
        completion (``text`` None, the texts as user messages)."""
        self.check_embeds()
        provider = self.provider
        assert isinstance(provider, EmbeddingProvider)  # check_embeds raised otherwise
        distinct = list(dict.fromkeys(texts))
        identity = await self.identity()
        found: dict[str, Vector] = {}
        for text in distinct:
            vector = self.cache.get_vector(embedding_key(identity, text))
            if vector is not None:
                found[text] = vector
        if found:
            self.cache_hits += len(found)
            self._emit(self._embed_record(tuple(found), purpose, 1, cached=True))
        todo = [t for t in distinct if t not in found]
        batches = [todo[i : i + provider.embed_batch] for i in range(0, len(todo), provider.embed_batch)]
        for batch, vectors in zip(batches, await asyncio.gather(*(self._embed_batch(b, purpose) for b in batches))):
            for text, vector in zip(batch, vectors):
                found[text] = vector
                self.cache.put_vector(embedding_key(identity, text), vector)
        return [found[t] for t in texts]

    async def aclose(self) -> None:
        """Release the provider's connections, when it holds any."""
        close = getattr(self.provider, "aclose", None)
        if close is not None:
            await close()

    def check_embeds(self) -> None:
        """Raise ``LLMError`` unless the provider can embed texts."""
        if not isinstance(self.provider, EmbeddingProvider):
            raise LLMError(
                f"{self.spec} cannot embed texts: name an embedding model of an OpenAI-compatible server "
                "(openai:MODEL with its base URL) or a local model (local:smollm2)"
            )

    async def _embed_batch(self, batch: list[str], purpose: str) -> tuple[Vector, ...]:
        def failed(attempt: int, latency: float, error: str) -> CallRecord:
            return self._embed_record(tuple(batch), purpose, attempt, latency=latency, error=error)

        provider = self.provider
        assert isinstance(provider, EmbeddingProvider)  # embed() checked it
        answer, attempt = await self._retrying(lambda: provider.embed(batch), failed)
        if len(answer.vectors) != len(batch):  # a provider bug, not a server's whim
            raise LLMError(f"{self.spec}: asked for {len(batch)} embeddings, got {len(answer.vectors)}")
        spent = self._account(answer.usage)
        self._emit(self._embed_record(tuple(batch), purpose, attempt, answer=answer, cost=spent))
        return answer.vectors

    async def _retrying(
        self, call: Callable[[], Awaitable[T]], failed: Callable[[int, float, str], CallRecord], held: bool = False
    ) -> tuple[T, int]:
        """``call``'s result and the attempt that gave it, retrying retryable
        failures with backoff; ``failed`` builds the record of a failed attempt.
        ``held``: the caller holds a slot, which the first attempt uses (and frees)."""
        attempt = 1
        while True:
            try:
                record = lambda latency, error: failed(attempt, latency, error)  # noqa: E731
                return await self._attempt(call, record, held=held and attempt == 1), attempt
            except ProviderError as exc:
                if not exc.retryable or attempt > self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
                attempt += 1

    async def _attempt(self, call: Callable[[], Awaitable[T]], failed: Callable[[float, str], CallRecord],
                       held: bool = False) -> T:
        """One provider call within the concurrency limit (in the slot the
        caller holds, when ``held``), which it frees; a failure is recorded
        here, with the time the attempt took."""
        limit = self._limit()
        if not held:
            await limit.acquire()
        try:
            # Checked after the wait for a slot, so queued calls see what the
            # calls ahead of them spent.
            if self.budget is not None:
                self.budget.check()
            self.busy += 1
            started = time.perf_counter()
            try:
                return await call()
            except Exception as exc:
                self.failed_attempts += 1
                self._emit(failed(time.perf_counter() - started, _cause(exc)))
                raise
            finally:
                self.busy -= 1
        finally:
            limit.release()

    def _account(self, usage: Usage) -> float:
        """Count one successful provider call; its cost."""
        spent = cost(self.spec, usage)
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += spent
        tokens = usage.prompt_tokens + usage.completion_tokens
        if self.budget is not None:
            self.budget.charge(spent, tokens)
        meter = metering.get()
        if meter is not None:
            meter.charge(spent, tokens)
        return spent

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
        usage: Usage | None = None,
        cached: bool = False,
        latency: float = 0.0,
        error: str | None = None,
        cost: float = 0.0,
        choices: tuple[str, ...] = (),
    ) -> CallRecord:
        """The record of a completion, or of what else happened (a failed
        attempt, an embeddings call) from the keyword fields."""
        return CallRecord(
            model=self.spec,
            role=self.role,
            purpose=purpose,
            messages=messages,
            params=params,
            text=completion.text if completion else None,
            usage=completion.usage if completion else usage,
            latency=completion.latency if completion else latency,
            cached=completion.cached if completion else cached,
            attempt=attempt,
            error=error,
            cost=cost,
            finish_reason=completion.finish_reason if completion else None,
            choices=choices if len(choices) > 1 else (),
        )

    def _embed_record(
        self, texts: tuple[str, ...], purpose: str, attempt: int, *, answer: Embeddings | None = None, **outcome
    ) -> CallRecord:
        if answer is not None:
            outcome.update(usage=answer.usage, latency=answer.latency)
        messages = tuple(Message("user", t) for t in texts)
        return self._record(messages, EMBED_PARAMS, purpose, attempt, **outcome)

    def _emit(self, record: CallRecord) -> None:
        if self.on_call is not None:
            self.on_call(record)


def _texts(completions: Sequence[Completion]) -> tuple[str, ...]:
    return tuple(c.text for c in completions)


def _cause(exc: BaseException) -> str:
    # ProviderError messages are written for people; anything else is a bug
    # in a provider and its type is the first clue.
    return str(exc) if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
