"""A run's session fsyncs on a thread of its own (``SessionStore.sync_in_background``):
a write is in the log when it returns, its fsync is made off the event loop,
several at once, and no model request leaves before what the run recorded
before it is fsynced; what a person wrote, and each step's end, are fsynced
before the loop goes on."""
from __future__ import annotations

import asyncio
import os
import threading

import pytest

from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.events import DecisionMade, StepDone
from reflectloop.core.types import Decision, Params
from reflectloop.sessions import AppendStorage, SessionStore
from reflectloop.sessions.service import open_run
from tests.scripted import ScriptedReviewer, scripted_llm
from tests.test_gepa_loop import CONFIG, parts
from tests.test_llm import MESSAGES
from tests.test_store import CONFIG as STORE_CONFIG
from tests.test_store_codec import sample_decision, sample_proposal


@pytest.fixture
def fsyncs(monkeypatch):
    """The threads every fsync of the process is made on, in order."""
    made: list[str] = []
    real = os.fsync

    def noted(fd):
        real(fd)
        made.append(threading.current_thread().name)

    monkeypatch.setattr(os, "fsync", noted)
    return made


def log_of(store: SessionStore):
    return store._storage._open_log


async def test_a_write_is_in_the_log_at_once_and_fsynced_off_the_loop(tmp_path, fsyncs):
    path = tmp_path / "s"
    with SessionStore.create(path, STORE_CONFIG) as store:
        store.sync_in_background()
        fsyncs.clear()
        store.add_proposal(sample_proposal("a", step=1))
        with SessionStore.open(path, read_only=True) as reader:
            assert [p.id for p in reader.proposals()] == ["a"]  # in the file: a killed process loses nothing
        for k in range(20):
            store.add_decision(sample_decision("a", "accept" if k % 2 else "reject"))
        await store.synced()
        log = log_of(store)
        assert log.synced == log.appended
        assert fsyncs and threading.main_thread().name not in fsyncs  # none on the loop's thread
        assert len(fsyncs) < 21  # written faster than fsynced: several lines share one
        store.add_decision(sample_decision("a", "edit"))
    assert log.synced == log.appended  # close fsynced the last one
    with SessionStore.open(path) as store:
        assert len(store.decision_log()) == 21 and store.decisions()["a"].kind == "edit"


async def test_a_compaction_meanwhile_leaves_no_wait_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(AppendStorage, "COMPACT_MIN_BYTES", 8 * 1024)
    with SessionStore.create(tmp_path / "s", STORE_CONFIG) as store:
        store.sync_in_background()
        shrank = 0
        for i in range(300):  # each state supersedes the last: the log is compacted again and again
            store.set_state({"step": i, "phase": "evaluate", "pad": "x" * 200})
            waiting = asyncio.ensure_future(store.synced())
            await asyncio.sleep(0)  # it waits for that line, unless its fsync is done already
            before = log_of(store).size
            store.set_state({"step": i, "phase": "select", "pad": "x" * 200})
            shrank += log_of(store).size < before
            await asyncio.wait_for(waiting, timeout=10)
            await asyncio.wait_for(store.synced(), timeout=10)
        assert shrank
    with SessionStore.open(tmp_path / "s") as store:
        assert store.state()["step"] == 299


async def test_flush_fsyncs_at_once(tmp_path, fsyncs):
    with SessionStore.create(tmp_path / "s", STORE_CONFIG) as store:
        store.sync_in_background()
        store.add_proposal(sample_proposal("a", step=1))
        store.flush()
        log = log_of(store)
        assert log.synced == log.appended


async def test_no_request_leaves_before_what_was_recorded_before_it_is_fsynced(tmp_path):
    with SessionStore.create(tmp_path / "s", STORE_CONFIG) as store:
        store.sync_in_background()
        log = log_of(store)
        seen: list[tuple[int, int]] = []  # (fsynced, written) when each request reached the provider

        def answer(text, params):
            seen.append((log.synced, log.appended))
            return "ok"

        llm, provider = scripted_llm("fake:x", answer, role="target", cache=MemoryCache())
        llm.before_send = store.synced  # as the service sets it
        for k in range(5):
            store.add_proposal(sample_proposal(f"p{k}", step=1))
            await llm.complete(MESSAGES, Params(sample=k))
    assert provider.calls == 5
    assert all(synced == size for synced, size in seen)
    assert seen[0][1] < seen[-1][1]  # each time, with the line written just before


async def test_a_run_fsyncs_a_persons_decisions_and_each_step_at_once_the_rest_off_the_loop(tmp_path, fsyncs):
    def decide(p):
        return Decision(p.id, "edit", "EDITED " + p.text, by="human") if p.kind == "feedback" else Decision(p.id, "accept")

    checked: list[str] = []
    stores: list[SessionStore] = []

    def durable_now(event):  # a listener: it hears each event after the recorder wrote it
        if isinstance(event, StepDone) or (isinstance(event, DecisionMade) and event.decision.by == "human"):
            log = log_of(stores[0])
            assert log.synced == log.appended  # fsynced before the loop goes on
            checked.append(type(event).__name__)

    injected, *_ = parts(MemoryCache())
    run = open_run(CONFIG.replace(steps=2), ScriptedReviewer(decide), session=tmp_path / "r.session",
                   injected=injected, listeners=[durable_now])
    stores.append(run.store)
    try:
        await run.drive()
    finally:
        await run.close()
    assert "StepDone" in checked and "DecisionMade" in checked
    assert any(name != threading.main_thread().name for name in fsyncs)  # the LLM's proposals, auto decisions, prompts
