"""The embedded default, ``local:smollm2``: the real SmolLM2-135M GGUF run
in-process by llama-cpp-python.  Calls stay short (max_tokens ≤ 32)."""
from __future__ import annotations

import asyncio

import pytest

from reflectloop.core.llm import LLM, ProviderError, ResponseCache, make_llm
from reflectloop.core.llm.local import ANSWER_SHARE, LocalProvider
from reflectloop.core.types import CallRecord, Message, Params

MESSAGES = (Message("system", "You answer in one short sentence."), Message("user", "Name a colour of the sky."))
GREEDY = Params(temperature=0.0, max_tokens=16)


@pytest.mark.asyncio
async def test_completion_has_text_and_real_usage():
    llm = make_llm("local:smollm2", role="target", cache=None)
    completion = await llm.complete(MESSAGES, GREEDY)
    assert completion.text.strip()
    assert completion.model == "local:smollm2" and not completion.cached
    usage = completion.usage
    assert not usage.estimated
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 16
    assert completion.latency > 0


@pytest.mark.asyncio
async def test_an_answer_cut_by_max_tokens_is_flagged():
    records: list[CallRecord] = []
    llm = make_llm("local:smollm2", role="target", cache=None, on_call=records.append)
    completion = await llm.complete(MESSAGES, Params(max_tokens=1))
    assert completion.usage.completion_tokens <= 1
    # One token cannot hold an answer: only an immediate end of turn is not a cut.
    assert completion.truncated == (completion.usage.completion_tokens == 1)
    assert completion.truncated or completion.text == ""
    assert records[0].finish_reason == completion.finish_reason


@pytest.mark.asyncio
@pytest.mark.parametrize("repeats", [30, 34])  # the prompt leaves more than the answer's share, then less
async def test_no_cap_means_the_answer_share_or_what_the_prompt_leaves(repeats):
    # 256: llama.cpp rounds a context up to a multiple of 256.
    llm = LLM(LocalProvider("smollm2", n_ctx=256), role="optimizer")
    story = (Message("user", "Write a long story about a cat, " + "a dog and a fox, " * repeats),)
    completion = await llm.complete(story, Params(max_tokens=None, temperature=1.0))
    usage = completion.usage
    assert usage.prompt_tokens > 150 and usage.completion_tokens > 0
    cap = min(256 // ANSWER_SHARE, 256 - usage.prompt_tokens)
    assert usage.completion_tokens <= cap
    assert completion.finish_reason in ("stop", "length")
    # Cut only at the cap, never earlier.
    assert completion.truncated == (usage.completion_tokens == cap)


@pytest.mark.asyncio
async def test_local_embeddings_one_vector_per_text(tmp_path):
    records: list[CallRecord] = []
    with ResponseCache(tmp_path / "responses.sqlite3") as cache:
        llm = make_llm("local:smollm2", role="embeddings", cache=cache, on_call=records.append)
        first = await llm.embed(["The sky is blue.", "Count the apples.", "The sky is blue.", ""])
        again = await llm.embed(["Count the apples."])
    assert len({len(v) for v in first}) == 1 and len(first[0]) > 100  # pooled: one vector per text
    assert first[0] == first[2] and first[0] != first[1] and again == [first[1]]
    assert len(first[3]) == len(first[0])  # an empty text embeds too (llama.cpp alone would crash)
    assert (llm.calls, llm.cache_hits) == (1, 1)
    assert records[0].usage.prompt_tokens > 4 and records[1].cached


@pytest.mark.asyncio
async def test_second_identical_call_is_served_by_the_cache(tmp_path):
    records: list[CallRecord] = []
    with ResponseCache(tmp_path / "responses.sqlite3") as cache:
        llm = make_llm("local:smollm2", role="target", cache=cache, on_call=records.append)
        first = await llm.complete(MESSAGES, GREEDY, purpose="evaluate")
        second = await llm.complete(MESSAGES, GREEDY, purpose="evaluate")
    assert not first.cached and second.cached
    assert second.text == first.text and second.usage == first.usage
    assert (llm.calls, llm.cache_hits) == (1, 1)
    assert [r.cached for r in records] == [False, True]


@pytest.mark.asyncio
async def test_greedy_output_is_deterministic():
    llm = make_llm("local:smollm2", role="target", cache=None)
    first = await llm.complete(MESSAGES, GREEDY)
    second = await llm.complete(MESSAGES, GREEDY)
    assert first.text == second.text and llm.calls == 2


@pytest.mark.asyncio
async def test_samples_differ_and_each_reproduces():
    llm = make_llm("local:smollm2", role="optimizer", cache=None)
    hot = [Params(temperature=1.0, top_p=0.95, max_tokens=24, sample=i) for i in range(3)]
    texts = [(await llm.complete(MESSAGES, p)).text for p in hot]
    again = (await llm.complete(MESSAGES, hot[1])).text
    assert len(set(texts)) > 1
    assert again == texts[1]


@pytest.mark.asyncio
async def test_oversized_prompt_is_rejected_without_retry():
    records: list[CallRecord] = []
    llm = LLM(LocalProvider("smollm2", n_ctx=256), role="target", on_call=records.append)
    long_prompt = (Message("user", "count the apples " * 200),)
    with pytest.raises(ProviderError, match=r"prompt of \d+ tokens exceeds the context of 256") as raised:
        await llm.complete(long_prompt, GREEDY)
    assert not raised.value.retryable
    assert len(records) == 1 and "exceeds the context" in records[0].error


@pytest.mark.asyncio
async def test_calls_run_off_the_event_loop_one_at_a_time():
    # Two LLMs over the same file share one model and its lock.
    target = make_llm("local:smollm2", role="target", cache=None)
    optimizer = make_llm("local:smollm2", role="optimizer", cache=None)
    assert target.concurrency == 1
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    results = await asyncio.gather(
        *(llm.complete(MESSAGES, Params(max_tokens=32, sample=i)) for i, llm in enumerate([target, optimizer] * 2))
    )
    ticker.cancel()
    assert all(r.text.strip() for r in results)
    assert ticks >= 5  # the loop kept running while the model worked


@pytest.mark.asyncio
async def test_unreadable_model_file_fails_clearly(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    llm = make_llm(f"local:{broken}", role="target", cache=None)
    with pytest.raises(ProviderError, match="cannot load .*broken.gguf") as raised:
        await llm.complete(MESSAGES, GREEDY)
    assert not raised.value.retryable
