"""The fake endpoint (``tests/support/fake_server.py``) and what it shows about
reflectloop's pipelining.  No timed assertions: speed is measured by
``bench/throughput.py``; here only counts, peaks and the order of events.
Where a test needs calls in flight together, the endpoint holds its answers
(``gather``, ``hold``) instead of relying on a latency this machine may beat
or miss."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import openai
import pytest

from tests.scripted import ScriptedReviewer
from tests.support.fake_answers import is_evaluation
from tests.support.fake_server import FAULT_KINDS, FakeServer, solve, spawn_fake_server
from tests.support.processes import read_line
from reflectloop.core.settings.config import RunConfig
from reflectloop.core.llm import MemoryCache, ProviderError, make_llm
from reflectloop.core.llm.anthropic_provider import AnthropicProvider
from reflectloop.core.llm.openai_provider import OpenAIProvider
from reflectloop.core.step.loop import Loop
from reflectloop.core.methods import make_method
from reflectloop.core.evaluation.prompting import target_messages
from reflectloop.core.evaluation.scoring import score_output
from reflectloop.core.tasks import load_task
from reflectloop.core.types import Example, Message, Params, Prompt

ROOT = Path(__file__).resolve().parents[1]
TASK = load_task("gen:navigate", seed=1, dev_size=12, test_size=4)
OPTIMIZER_PROMPT = "Write one clear instruction for this task. Wrap it in <START> and <END>."


def evaluation(instruction: str, example: Example) -> tuple[Message, ...]:
    return target_messages(Prompt("p", instruction), example)


def distinct(n: int) -> list[tuple[Message, ...]]:
    return [(Message("user", f"{OPTIMIZER_PROMPT} #{i}"),) for i in range(n)]


# ------------------------------------------------------------------ answers
async def test_openai_endpoints_answer_deterministically():
    with FakeServer() as server:
        client = openai.AsyncOpenAI(base_url=server.openai_url, api_key="unused")
        assert [m.id for m in (await client.models.list()).data] == ["fake"]
        await client.close()
        provider = OpenAIProvider("fake", base_url=server.openai_url)
        example = TASK.dev[0]
        first = await provider.complete(evaluation("Answer it.", example), Params())
        again = await provider.complete(evaluation("Answer it.", example), Params())
        assert first.text == again.text and first.usage.prompt_tokens > 0
        answer, _, followed = score_output(first.text, example.targets)
        assert followed and answer in ("A", "B")
        # Optimizer prompts: the tagged spans asked for ("Write one"), a function of the request and its seed.
        tagged = await provider.complete((Message("user", OPTIMIZER_PROMPT),), Params(seed=1))
        assert tagged.text.count("<START>") == tagged.text.count("<END>") == 1
        assert tagged.text == (await provider.complete((Message("user", OPTIMIZER_PROMPT),), Params(seed=1))).text
        assert tagged.text != (await provider.complete((Message("user", OPTIMIZER_PROMPT),), Params(seed=2))).text
        ins = await provider.complete((Message("user", "Put it between <INS> and </INS>."),), Params())
        assert ins.text.count("<INS>") == 3 and "<START>" not in ins.text
        await provider.aclose()


def test_the_answer_is_computed_from_the_input():
    for example in (*TASK.dev, *TASK.test):
        assert solve(example.input) in example.targets
    counting = load_task("gen:object_counting", seed=0, dev_size=5, test_size=1)
    assert solve("I have a dog, three bananas, and an apple. How many fruits do I have?") == "5"
    assert all(solve(e.input).isdigit() for e in counting.dev)


async def test_anthropic_messages_answer_like_chat_completions():
    with FakeServer() as server:
        anthropic = AnthropicProvider("fake", base_url=server.url)
        chat = OpenAIProvider("fake", base_url=server.openai_url)
        messages = (Message("system", "Be brief."), *evaluation("Answer it.", TASK.dev[1]))
        assert (await anthropic.complete(messages, Params())).text == (await chat.complete(messages, Params())).text
        assert [s.api for s in server.log] == ["anthropic", "openai"]
        await anthropic.aclose()
        await chat.aclose()


# --------------------------------------------------------------- concurrency
async def test_requests_beyond_the_cap_wait_and_the_peak_is_recorded():
    with FakeServer(concurrency=16) as server:
        server.gather(40)  # no answer until all 40 are in: 16 served, 24 waiting for a slot
        llm = make_llm("openai:fake", role="target", base_url=server.openai_url, cache=None, concurrency=40)
        done = await asyncio.gather(*(llm.complete(m, Params()) for m in distinct(40)))
        await llm.aclose()
        assert len(done) == server.requests == 40
        assert server.max_active == 16  # never more served at once than the cap
        assert server.max_open == 40  # the others waited for a slot
        assert server.stats()["max_active"] == 16


async def test_more_than_16_slow_requests_are_served_at_once():
    # Also shows that neither LLM nor the HTTP client's connection pool stops
    # below the configured concurrency.
    with FakeServer() as server:
        server.gather(24)  # no answer until 24 are in the server at once
        llm = make_llm("openai:fake", role="target", base_url=server.openai_url, cache=None, concurrency=24)
        await asyncio.gather(*(llm.complete(m, Params()) for m in distinct(24)))
        await llm.aclose()
        assert server.max_active == 24


# -------------------------------------------------------------------- faults
async def faults_met(seed: int, order: list[int]) -> set[tuple[str, int, str | None]]:
    fast = [k for k in FAULT_KINDS if k != "timeout"]
    with FakeServer(fault_rate=0.5, faults=fast, seed=seed, retry_after=0) as server:
        llm = make_llm("openai:fake", role="target", base_url=server.openai_url, cache=None, retries=8, backoff=0.001)
        requests = distinct(30)
        for i in order:
            await llm.complete(requests[i], Params())
        await llm.aclose()
        return {(s.key, s.attempt, s.fault) for s in server.log}


async def test_faults_are_seeded_per_request_not_by_arrival_order():
    forward = await faults_met(3, list(range(30)))
    backward = await faults_met(3, list(reversed(range(30))))
    assert forward == backward
    assert {fault for _, _, fault in forward} == {*FAULT_KINDS, None} - {"timeout"}
    assert await faults_met(4, list(range(30))) != forward


@pytest.mark.parametrize("api", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_each_fault_reaches_the_client_as_a_retryable_error(api, kind):
    # A "timeout" hangs until the server closes, so any client timeout meets
    # it; every other fault answers at once, well inside a generous one.
    timeout = 0.5 if kind == "timeout" else 60.0
    with FakeServer(always_fail={"PING": kind}, hang=600, retry_after=7) as server:
        provider = (
            OpenAIProvider("fake", base_url=server.openai_url, timeout=timeout)
            if api == "openai"
            else AnthropicProvider("fake", base_url=server.url, timeout=timeout)
        )
        try:
            if api == "anthropic" and kind == "empty":
                # An empty content list is a valid Messages answer: no error.
                assert (await provider.complete((Message("user", "PING"),), Params())).text == ""
                return
            with pytest.raises(ProviderError) as raised:
                await provider.complete((Message("user", "PING"),), Params())
        finally:
            await provider.aclose()
        assert raised.value.retryable
        assert [s.fault for s in server.log] == [kind]
        expected = {
            "429": "HTTP 429", "500": "HTTP 500", "timeout": "within 0.5s", "empty": "no choices",
            "truncated": "closed before the whole answer arrived" if api == "openai"
            else "without sending complete message body", "invalid": "not valid JSON",
        }[kind]  # fmt: skip
        assert expected in str(raised.value)
        if kind == "429":
            assert raised.value.retry_after == 7


# ---------------------------------------------------------------- subprocess
def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # exited, not yet reaped by its new parent


def test_the_subprocess_server_exits_after_its_idle_timeout():
    with spawn_fake_server(idle_timeout=0.5, latency=0.01) as server:
        with urllib.request.urlopen(f"{server.openai_url}/models", timeout=10) as response:
            assert json.loads(response.read())["data"][0]["id"] == "fake"
        assert server.process.wait(timeout=60) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_subprocess_server_exits_when_its_parent_dies():
    script = (
        "import time; from tests.support.fake_server import spawn_fake_server\n"
        "running = spawn_fake_server(idle_timeout=0)\n"  # 0: no idle timeout
        "server = running.__enter__()\n"
        "print(server.process.pid, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        pid = int(read_line(parent))
        assert not _gone(pid)
    finally:
        parent.send_signal(signal.SIGKILL)  # no clean-up: the server must notice by itself
        parent.wait()
    deadline = time.monotonic() + 60
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not _gone(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the fake server outlived its parent")


# ---------------------------------------------------------------- pipelining
def apo_loop(server: FakeServer, cache=None) -> Loop:
    config = RunConfig(
        task="gen:navigate", method="apo", target="openai:fake", optimizer="openai:fake",
        steps=2, beam=3, init_prompts=3, dev_size=12, test_size=4, seed=1, concurrency=8,
    )  # fmt: skip
    target, optimizer = (
        make_llm("openai:fake", role=role, base_url=server.openai_url, cache=cache, concurrency=8)
        for role in ("target", "optimizer")
    )
    return Loop(
        task=TASK, config=config, method=make_method("apo", optimizer, TASK, config),
        # Asked card by card, as a person is (no ``foresee``): a step's refinements are
        # asked in the step, not read ahead during the one before (``core.step.readahead``).
        target=target, optimizer=optimizer, reviewer=ScriptedReviewer(),
    )  # fmt: skip


def instruction(served) -> str:
    """The instruction of an evaluation request."""
    return served.prompt.rpartition("\n\nInput:\n")[0]


def parents_evaluated(loop: Loop, served: list) -> set[str]:
    """The parents whose candidates have evaluations among ``served``."""
    by_instruction = {p.instruction: p for p in list(loop.state.prompts.values())}
    evaluated = (by_instruction.get(instruction(s)) for s in served if s.kind == "evaluate")
    return {p.parent_id for p in evaluated if p is not None and p.parent_id}


def first_evaluation():
    """A ``hold`` match for the first evaluation request it sees (and its retries)."""
    first: list[str] = []
    lock = threading.Lock()  # the server asks from one thread per request

    def match(text: str) -> bool:
        if not is_evaluation(text):
            return False
        with lock:
            if not first:
                first.append(text)
        return text == first[0]

    return match


async def wait_for(condition, task: asyncio.Task, ceiling: float = 120.0) -> bool:
    """Whether ``condition()`` came true before ``task`` ended (the ceiling only
    bounds a broken run; it is no timing check)."""
    deadline = time.monotonic() + ceiling
    while not condition():
        if task.done() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_an_apo_step_reaches_the_endpoint_limit_and_pipelines_each_parent():
    with FakeServer(concurrency=8) as server:
        loop = apo_loop(server)
        await loop.run_step()
        parents = loop.beam_prompts()
        assert len(parents) == 3 and all(loop.state.dev[p.id].errors for p in parents)
        # The last parent's refine call is held: the others' candidates must
        # be evaluated while it is, not wait for it.
        slow, others = parents[-1], {p.id for p in parents[:-1]}
        refined = server.hold(f'{slow.instruction}"\n\nWith it, the model got these examples wrong')
        # The step's first evaluation is held too, until one of another prompt arrives.
        evaluated = server.hold(first_evaluation())
        server.gather(8, kind="evaluate")  # evaluations answered once 8 requests are in at once
        start = len(server.log)
        server.reset_peaks()
        running = asyncio.create_task(loop.run_step())

        def overlapping() -> bool:
            step = server.log[start:]
            return others <= parents_evaluated(loop, step) and len({instruction(s) for s in step if s.kind == "evaluate"}) > 1

        pipelined = await wait_for(overlapping, running)
        refined.set()
        evaluated.set()
        await running
        await loop.target.aclose()
        await loop.optimizer.aclose()

    assert pipelined, "the other parents' candidates, or other prompts' evaluations, waited for a held call"
    step = server.log[start:]
    assert server.max_active == 8  # the endpoint's limit was reached
    [refine] = [s for s in step if s.kind == "optimize" and slow.instruction in s.prompt and "improved" in s.prompt]
    by_instruction = {p.instruction: p for p in loop.state.prompts.values()}

    def candidate(served):
        return by_instruction[instruction(served)]

    evaluations = [s for s in step if s.kind == "evaluate"]
    early = {candidate(s).parent_id for s in evaluations if s.arrived < refine.replied}
    assert early == others  # both other parents' candidates, during the held call
    assert any(candidate(s).parent_id == slow.id for s in evaluations if s.arrived > refine.replied)
    # Evaluations of different prompts were in flight together.
    assert any(
        candidate(a).id != candidate(b).id and a.arrived < b.replied and b.arrived < a.replied
        for a in evaluations
        for b in evaluations
    )


async def test_a_rerun_from_the_cache_makes_no_call():
    cache = MemoryCache()
    with FakeServer() as server:
        first = apo_loop(server, cache)
        await first.run()
        calls = server.requests
        assert calls > 0
        again = apo_loop(server, cache)
        await again.run()
        assert server.requests == calls
        for loop in (first, again):
            for model in loop.models():
                await model.aclose()
        assert again.state.records[-1].beam == first.state.records[-1].beam
        assert Counter(r.calls for r in again.state.records) == {0: 2}
