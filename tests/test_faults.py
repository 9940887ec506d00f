"""Fault tolerance, end to end: APO steps 0 and 1 through the real providers
(OpenAI-compatible over aiohttp, the Anthropic SDK) and ``LLM`` against the fake endpoint injecting
faults, recorded into a real session by ``sessions.service.open_run``.

The fake endpoint's answers depend only on the request, so a run meeting
faults must score exactly like a run meeting none; its fault log says what
was injected, so every failed attempt in the session can be accounted for.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.support.fake_server import FAULT_KINDS, FakeServer
from reflectloop.core.settings.config import RunConfig
from reflectloop.core.events import Note
from reflectloop.core.llm import ProviderError, make_llm
from reflectloop.core.review import AutoReviewer
from reflectloop.core.tasks import load_task
from reflectloop.sessions.store import SessionStore
from tests.test_llm_http import Reply, anthropic_attempt, openai_attempt, server  # noqa: F401 (a fixture)
from reflectloop.sessions.service import open_run

# A "timeout" fault hangs until the server closes, so the client's timeout
# always meets it.  An answer this machine is too busy to give within TIMEOUT
# is a timeout too, which ``unexplained`` accepts only after the client's
# whole TIMEOUT: no check here depends on the machine's speed.
TIMEOUT = 1.0
HANG = 600.0
RETRY_AFTER = 0.05
SIZES = dict(steps=2, beam=2, init_prompts=3, dev_size=10, test_size=4, seed=1)


def cause(error: str) -> str:
    """The fault kind a failed attempt's recorded cause names."""
    kinds = {
        "HTTP 429": "429", "HTTP 500": "500", "no answer from": "timeout",
        "without sending complete message body": "truncated",  # the anthropic SDK's words
        "closed before the whole answer arrived": "truncated",  # core.llm.http's
        "not valid JSON": "invalid", "no choices": "empty",
    }  # fmt: skip
    return next((kind for text, kind in kinds.items() if text in error), f"unexpected: {error}")


async def run_apo(tmp: Path, name: str, server: FakeServer, provider: str = "openai", retries: int = 6):
    """Steps 0 and 1 of APO against ``server``; the reopened session and the
    Notes the loop emitted."""
    url = server.openai_url if provider == "openai" else server.url
    spec = f"{provider}:fake"
    config = RunConfig(task="gen:navigate", method="apo", target=spec, optimizer=spec, **SIZES)
    task = load_task(config.task, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size)
    models = [
        make_llm(spec, role=role, base_url=url, cache=None, timeout=TIMEOUT, retries=retries, backoff=0.01)
        for role in ("target", "optimizer")
    ]
    notes: list[Note] = []
    session = tmp / f"{name}.session"
    run = open_run(
        config, AutoReviewer(), session=session, injected=(task, *models),
        listeners=(lambda e: notes.append(e) if isinstance(e, Note) else None,),
    )
    try:
        await run.drive()
    finally:
        await run.close()
    return SessionStore.open(session, read_only=True), notes


def failed_by_cause(store: SessionStore) -> Counter:
    return Counter(cause(c.error) for c in store.calls() if c.error)


def unexplained(store: SessionStore, server: FakeServer) -> list[str]:
    """The session's failed attempts that the endpoint's log does not explain.

    One is explained when it failed with the fault the endpoint injected into
    that attempt of that prompt, or by a timeout after the client waited its
    whole TIMEOUT: a busy machine can be that slow with any answer."""
    served: dict[tuple[str, int], set] = {}
    for s in server.log:
        served.setdefault((s.prompt, s.attempt), set()).add(s.fault)
    out = []
    for c in store.calls():
        if c.error is None:
            continue
        faults = served.get((c.messages[-1].content, c.attempt), {"never served"})
        if cause(c.error) not in faults and not (cause(c.error) == "timeout" and c.latency >= TIMEOUT):
            out.append(f"attempt {c.attempt} of a {c.purpose} call: {c.error!r}; the endpoint injected {faults}")
    return out


def unrecorded(store: SessionStore, server: FakeServer) -> Counter:
    """Faults the endpoint injected that no failed attempt of the session records."""
    injected = Counter((s.prompt, s.attempt) for s in server.injected())
    failed = Counter((c.messages[-1].content, c.attempt) for c in store.calls() if c.error)
    return injected - failed


def assert_faults_recorded(store: SessionStore, server: FakeServer) -> None:
    """Every injected fault is a failed attempt in the session, and every
    failed attempt is an injected fault (or the client's own timeout)."""
    assert not unrecorded(store, server)
    assert not unexplained(store, server)


def results(store: SessionStore) -> dict[tuple[str, str, str], bool]:
    """(prompt instruction, split, example) -> correct, for every scored example."""
    prompts = store.prompts()
    return {
        (prompts[ev.prompt_id].instruction, ev.split, r.example_id): r.correct
        for _, ev in store.evaluations()
        for r in ev.results
        if r.errored is None
    }


def comparable(store: SessionStore) -> list[tuple]:
    return [(s.step, s.beam, s.dev_scores, s.best_id, s.test) for s in store.steps()]


def assert_retry_after_honoured(server: FakeServer) -> None:
    """Each retry of a 429 arrived no sooner than the Retry-After it was given
    (the backoff alone is far shorter).  Measured from the moment the 429 got
    its slot, since it is answered at once: ``replied`` is stamped after the
    write, and a busy client may already have read the answer by then."""
    log = server.log
    for limited in (s for s in log if s.fault == "429"):
        retry = next(s for s in log if s.key == limited.key and s.attempt == limited.attempt + 1)
        assert retry.arrived - limited.started >= RETRY_AFTER


@pytest.fixture
def clean():
    with FakeServer() as server:
        yield server


async def test_a_step_survives_every_kind_of_fault_and_records_each_one(tmp_path, clean):
    reference, _ = await run_apo(tmp_path, "clean", clean)
    with FakeServer(fault_rate=0.2, seed=4, retry_after=RETRY_AFTER, hang=HANG) as faulty:
        store, notes = await run_apo(tmp_path, "faulty", faulty)
        injected = Counter(s.fault for s in faulty.injected())

    # The seeded 20% met every kind, and nothing failed for good.
    assert set(injected) == set(FAULT_KINDS), injected
    assert not any(r.errored for _, ev in store.evaluations() for r in ev.results)
    assert [s.step for s in store.steps()] == [0, 1]
    # Every fault the endpoint injected is a failed attempt in the session, by cause.
    assert_faults_recorded(store, faulty)
    for call in store.calls():
        assert (call.error is None) == (call.text is not None)
    assert_retry_after_honoured(faulty)
    # Faults cost attempts, never answers: the run is the fault-free run.
    assert results(store) == results(reference)
    assert comparable(store) == comparable(reference)
    assert not [n for n in notes if "errored" in n.text]
    reference.close()
    store.close()


async def test_a_call_that_fails_for_good_is_errored_not_wrong_and_a_note_says_so(tmp_path, clean):
    reference, _ = await run_apo(tmp_path, "clean", clean)
    task = load_task("gen:navigate", seed=SIZES["seed"], dev_size=SIZES["dev_size"], test_size=SIZES["test_size"])
    doomed = task.dev[3]
    # Only its evaluation prompts end "Input:\n<input>\n\n": the optimizer's
    # prompts quote inputs with a single newline after them.
    with FakeServer(always_fail={f"Input:\n{doomed.input}\n\n": "500"}) as server:
        store, notes = await run_apo(tmp_path, "doomed", server, retries=2)

    dev = [ev for _, ev in store.evaluations() if ev.split == "dev"]
    expected = results(reference)
    in_reference = {instruction for instruction, _, _ in expected}
    prompts = store.prompts()
    doomed_calls = [c for c in store.calls() if f"Input:\n{doomed.input}\n\n" in c.messages[-1].content]
    compared = 0
    for ev in dev:
        [lost] = [r for r in ev.results if r.errored]
        assert lost.example_id == doomed.id and not lost.correct
        # It names the cause of the call's last attempt.
        evaluation = f"{prompts[ev.prompt_id].instruction}\n\nInput:\n"
        assert [c.error for c in doomed_calls if c.attempt == 3 and c.messages[-1].content.startswith(evaluation)] == [lost.errored]
        # Left out of the score, not counted wrong: the score is the fault-free
        # run's on the examples that got through (for the prompts both runs
        # wrote: with other scores, step 1 may refine other parents).
        instruction = prompts[ev.prompt_id].instruction
        if instruction in in_reference:
            kept = [expected[(instruction, "dev", r.example_id)] for r in ev.scored]
            assert len(kept) == len(ev.results) - 1
            assert ev.score == pytest.approx(sum(kept) / len(kept))
            compared += 1
        note = [n.text for n in notes if n.text.startswith(f"{ev.prompt_id}: ") and "errored" in n.text]
        assert note == [f"{ev.prompt_id}: 1 of {len(ev.results)} dev examples errored and are left out "
                        f"of its score ({lost.errored})"]
    assert compared >= SIZES["init_prompts"]
    # Each of those calls tried three times (retries=2), each attempt recorded with its cause.
    assert len(doomed_calls) == 3 * len(dev)
    assert Counter(c.attempt for c in doomed_calls) == {1: len(dev), 2: len(dev), 3: len(dev)}
    assert all(c.error for c in doomed_calls)
    assert Counter(s.fault for s in server.injected()) == {"500": 3 * len(dev)}
    assert_faults_recorded(store, server)
    reference.close()
    store.close()


async def test_anthropic_messages_through_the_same_machinery_with_faults(tmp_path, clean):
    reference, _ = await run_apo(tmp_path, "clean", clean, provider="anthropic")
    # /v1/messages may legitimately answer with no content, so "empty" is no fault there.
    kinds = [k for k in FAULT_KINDS if k != "empty"]
    with FakeServer(fault_rate=0.2, faults=kinds, seed=3, retry_after=RETRY_AFTER, hang=HANG) as faulty:
        store, _ = await run_apo(tmp_path, "faulty", faulty, provider="anthropic")
        injected = Counter(s.fault for s in faulty.injected())

    assert {s.api for s in faulty.log} == {"anthropic"}
    assert "429" in injected and sum(injected.values()) >= 5
    assert_faults_recorded(store, faulty)
    assert all(c.model == "anthropic:fake" for c in store.calls())
    assert_retry_after_honoured(faulty)
    assert results(store) == results(reference)
    assert comparable(store) == comparable(reference)
    reference.close()
    store.close()


# A 200 whose body is JSON of the wrong shape is a failed attempt like any other
# (recorded, retried), never an AttributeError that ends the run.
MALFORMED = [{}, {"choices": None}, {"choices": [{"message": None}]}, {"choices": ["x"]}, "not an object", [1]]


@pytest.mark.parametrize("body", MALFORMED, ids=repr)
async def test_a_malformed_chat_completion_is_a_retryable_failure(server, body):
    with pytest.raises(ProviderError) as raised:
        await openai_attempt(server, Reply(body=body))
    assert raised.value.retryable and "openai:gpt-4o-mini: the response" in str(raised.value)


@pytest.mark.parametrize("body", [{}, {"content": None}, {"content": "text"}, "not an object"], ids=repr)
async def test_a_malformed_message_is_a_retryable_failure(server, body):
    with pytest.raises(ProviderError) as raised:
        await anthropic_attempt(server, Reply(body=body))
    assert raised.value.retryable and "has no content" in str(raised.value)
