"""SessionStore on real session directories: round-trips, TinyDB compatibility,
torn tails, compaction, read-only mode and secrets.  Damage in the middle of
the log, a full disk and concurrent readers are in ``test_reliability_*``."""
from __future__ import annotations

import json

import pytest
from tinydb import TinyDB

from reflectloop.core.types import Decision
from reflectloop.sessions import AppendStorage, ReadOnlyError, SessionStore
from reflectloop.sessions import store as store_module
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.summary import session_summary

from .test_store_codec import (
    sample_call,
    sample_decision,
    sample_evaluation,
    sample_failed_call,
    sample_prompt,
    sample_proposal,
    sample_step,
)

CONFIG = {
    "task": "gen:navigate",
    "method": "abo",
    "models": {"target": "local:smollm2", "optimizer": "openai:gpt-4o-mini"},
    "seed": 13,
    "sizes": {"dev": 50, "test": 200, "beam": 5},
    "max_tokens": 512,
}


def fill(store: SessionStore) -> None:
    store.add_prompt(sample_prompt("p0", step=0))
    store.add_prompt(sample_prompt("p1", step=1))
    store.add_evaluation(0, sample_evaluation("p0", "dev"))
    store.add_evaluation(1, sample_evaluation("p1", "dev"))
    store.add_evaluation(1, sample_evaluation("p1", "test", n=5))
    store.add_proposal(sample_proposal("a", step=1))
    store.add_proposal(sample_proposal("b", step=2))
    store.add_decision(sample_decision("a", "reject"))
    store.add_decision(sample_decision("a", "edit"))  # the later decision on "a" wins
    store.add_decision(sample_decision("b", "accept"))
    store.add_step(sample_step(0, dev=0.5, test=0.45))
    store.add_step(sample_step(1, dev=0.7, test=0.62))
    store.add_call(sample_call(0))
    store.add_call(sample_failed_call())
    store.set_state({"step": 1, "phase": "reflect", "beam": ["p1"]})
    store.set_state({"step": 2, "phase": "refine"})  # replaces, does not merge


def check_filled(store: SessionStore) -> None:
    assert store.config == CONFIG
    assert store.prompts() == {"p0": sample_prompt("p0", step=0), "p1": sample_prompt("p1", step=1)}
    assert store.evaluations() == [
        (0, sample_evaluation("p0", "dev")),
        (1, sample_evaluation("p1", "dev")),
        (1, sample_evaluation("p1", "test", n=5)),
    ]
    assert [ev.split for _, ev in store.evaluations(step=1)] == ["dev", "test"]
    assert store.proposals() == [sample_proposal("a", step=1), sample_proposal("b", step=2)]
    assert store.proposals(step=2) == [sample_proposal("b", step=2)]
    assert store.decisions() == {"a": sample_decision("a", "edit"), "b": sample_decision("b", "accept")}
    assert store.steps() == [sample_step(0, dev=0.5, test=0.45), sample_step(1, dev=0.7, test=0.62)]
    assert store.calls() == [sample_call(0), sample_failed_call()]
    assert store.state() == {"step": 2, "phase": "refine"}


def test_create_and_reopen_round_trip_every_record_kind(tmp_path):
    path = tmp_path / "run.session"
    with SessionStore.create(path, CONFIG, parent="base.session", parent_step=3) as store:
        fill(store)
        check_filled(store)  # buffered calls are visible before they are flushed
    with SessionStore.open(path) as store:
        check_filled(store)
        meta = store.meta
        assert (meta["parent"], meta["parent_step"], meta["format"]) == ("base.session", 3, 1)
        assert meta["created"] <= meta["updated"]
        assert meta["recovered_from"] is None  # the last writer closed cleanly


def test_reads_return_copies_that_cannot_change_the_store(tmp_path):
    with SessionStore.create(tmp_path / "s", CONFIG) as store:
        fill(store)
        store.config["seed"] = 99
        store.state()["phase"] = "garbage"
        store.steps()[0].dev_scores["p9"] = 1.0
        assert store.config["seed"] == 13
        assert store.state()["phase"] == "refine"
        assert "p9" not in store.steps()[0].dev_scores


def test_plain_tinydb_opens_a_session(tmp_path):
    path = tmp_path / "run.session"
    with SessionStore.create(path, CONFIG) as store:
        fill(store)
    db = TinyDB(path, storage=AppendStorage, read_only=True)
    try:
        assert {"meta", "prompts", "evaluations", "proposals", "decisions", "steps", "calls", "state"} <= db.tables()
        assert [d["proposal_id"] for d in db.table("decisions").all()] == ["a", "a", "b"]
        assert db.table("meta").all()[0]["config"] == CONFIG
        assert len(db.table("calls")) == 2
    finally:
        db.close()
    # A plain TinyDB writer works on the same files, and the store reads its writes.
    with TinyDB(path, storage=AppendStorage) as db:
        db.table("decisions").insert({"proposal_id": "c", "kind": "reject", "by": "script", "at": 1.0})
    with SessionStore.open(path, read_only=True) as store:
        assert store.decisions()["c"] == Decision("c", "reject", by="script", at=1.0)


def test_calls_are_batched_but_reach_disk_before_a_decision(tmp_path):
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        log = path / LOG_NAME
        store.add_call(sample_call(1))
        assert b"question 1" not in log.read_bytes()  # buffered
        lines = log.read_bytes().count(b"\n")
        store.add_decision(sample_decision("a"))
        data = log.read_bytes()
        assert data.count(b"\n") == lines + 1  # the call and the decision share one line (one fsync)
        assert data.index(b"question 1") < data.index(b'"proposal_id":"a"')
        for i in range(store_module.CALL_BATCH):
            store.add_call(sample_call(i + 2))
        assert f"question {store_module.CALL_BATCH + 1}".encode() in log.read_bytes()  # a full batch is written


def test_old_buffered_calls_are_flushed_on_the_next_call(tmp_path, monkeypatch):
    path = tmp_path / "s"
    clock = [1000.0]
    monkeypatch.setattr(store_module.time, "monotonic", lambda: clock[0])
    with SessionStore.create(path, CONFIG) as store:
        store.add_call(sample_call(1))
        clock[0] += store_module.CALL_MAX_AGE + 0.1
        store.add_call(sample_call(2))
        assert b"question 2" in (path / LOG_NAME).read_bytes()


def test_a_write_appends_only_what_changed(tmp_path):
    path = tmp_path / "s"
    log = path / LOG_NAME
    with SessionStore.create(path, CONFIG) as store:
        sizes = []
        for batch in range(5):
            for i in range(store_module.CALL_BATCH):
                store.add_call(sample_call(i))
            before = log.stat().st_size
            store.add_decision(sample_decision(f"d{batch}"))
            sizes.append(log.stat().st_size - before)
    # Same-size decisions cost the same bytes whether 200 or 1,000 calls precede them.
    assert max(sizes) - min(sizes) <= 2
    assert max(sizes) < 300


def test_torn_last_line_is_ignored_then_repaired(tmp_path):
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        fill(store)
    log = path / LOG_NAME
    good = log.read_bytes()
    torn = b'{"put":{"decisions":{"9":{"proposal_id":"torn","ki'
    log.write_bytes(good + torn)

    with SessionStore.open(path, read_only=True) as store:
        check_filled(store)
        assert "torn" not in store.decisions()
    assert log.read_bytes() == good + torn  # a reader never modifies the file

    with SessionStore.open(path) as store:
        assert log.read_bytes() == good  # the writer cut the torn tail away
        store.add_decision(sample_decision("after", "accept"))
    with SessionStore.open(path, read_only=True) as store:
        assert set(store.decisions()) == {"a", "b", "after"}


def test_garbage_complete_line_at_the_tail_is_dropped(tmp_path):
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        fill(store)
    log = path / LOG_NAME
    good = log.read_bytes()
    log.write_bytes(good + b"\x00\x00\x00\n")  # e.g. zero-filled blocks after a power loss
    with SessionStore.open(path) as store:
        check_filled(store)
    assert log.read_bytes() == good


# A session as reflectloop wrote it while set_state updated one state record in place
# (its id 1 put again each time), byte for byte.
IN_PLACE_STATE_LOG = b"""\
{"put":{"meta":{"1":{"format":1,"created":1796667265.3721309,"config":{"task":"gen:navigate","method":"abo"},"task":null,"parent":null,"parent_step":null}}},"live":134}
{"put":{"state":{"1":{"state":{"step":0,"phase":"start"}}}},"live":170}
{"put":{"decisions":{"1":{"proposal_id":"s1-p0-feedback-0","kind":"accept","text":null,"by":"human","at":2.0,"labels":[],"rationale":"","annotator":""}}},"live":296}
{"put":{"state":{"1":{"state":{"step":1,"phase":"reflect","detail":"3 errors"}}}},"live":318}
{"put":{"state":{"1":{"state":{"step":2,"phase":"start","beam":["p1"]}}}},"live":310}
"""


def test_a_session_whose_state_was_updated_in_place_opens_with_its_state(tmp_path):
    path = tmp_path / "old.session"
    path.mkdir()
    (path / LOG_NAME).write_bytes(IN_PLACE_STATE_LOG)
    with SessionStore.open(path, read_only=True) as store:
        assert store.state() == {"step": 2, "phase": "start", "beam": ["p1"]}
        assert store.decisions() == {"s1-p0-feedback-0": Decision("s1-p0-feedback-0", "accept", by="human", at=2.0)}
    with SessionStore.open(path) as store:  # a resumed run appends its states after it
        assert store.state() == {"step": 2, "phase": "start", "beam": ["p1"]}
        store.set_state({"step": 2, "phase": "reflect"})
        assert store.state() == {"step": 2, "phase": "reflect"}
    assert (path / LOG_NAME).read_bytes().startswith(IN_PLACE_STATE_LOG)  # appended, nothing rewritten
    with SessionStore.open(path) as store:
        assert store.state() == {"step": 2, "phase": "reflect"}
        store._db.storage.compact()
    log = [json.loads(line) for line in (path / LOG_NAME).read_bytes().splitlines()]
    assert log[0]["snap"]["state"] == {"2": {"state": {"step": 2, "phase": "reflect"}}}
    with SessionStore.open(path, read_only=True) as store:
        assert store.state() == {"step": 2, "phase": "reflect"}


def test_each_state_is_appended_with_the_calls_before_it(tmp_path):
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        store.add_call(sample_call(1))
        before = (path / LOG_NAME).read_bytes()
        store.set_state({"step": 1, "phase": "reflect"})
        store.set_state({"step": 1, "phase": "refine"})
        data = (path / LOG_NAME).read_bytes()
    assert data.startswith(before)  # only appended
    first, second = (json.loads(line) for line in data[len(before):].splitlines())
    assert set(first["put"]) == {"calls", "state"}  # the pending call rides along: one line, one fsync
    assert list(first["put"]["state"].values()) == [{"state": {"step": 1, "phase": "reflect"}}]
    assert list(second["put"]) == ["state"]
    assert list(second["put"]["state"].values()) == [{"state": {"step": 1, "phase": "refine"}}]


def test_a_phase_is_no_line_of_its_own_and_rides_along_with_the_next_write(tmp_path):
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        before = (path / LOG_NAME).read_bytes()
        store.set_phase({"step": 1, "phase": "reflect"})
        store.set_phase({"step": 1, "phase": "refine"})
        assert (path / LOG_NAME).read_bytes() == before  # nothing written, nothing fsynced
        assert store.state() == {"step": 1, "phase": "refine"}  # but it is the state
        store.add_proposal(sample_proposal())
        written = (path / LOG_NAME).read_bytes()[len(before):].splitlines()
        assert len(written) == 1 and set(json.loads(written[0])["put"]) == {"state", "proposals"}
        store.set_phase({"step": 1, "phase": "evaluate"})
        store.set_state({"step": 2, "phase": "start", "beam": []})  # supersedes the pending phase
        store.set_phase({"step": 2, "phase": "reflect"})
    with SessionStore.open(path, read_only=True) as store:  # close wrote the last phase
        assert store.state() == {"step": 2, "phase": "reflect"}
    lines = [json.loads(line) for line in (path / LOG_NAME).read_bytes()[len(before):].splitlines()]
    phases = [s["state"].get("phase") for line in lines for s in line["put"].get("state", {}).values()]
    assert phases == ["refine", "start", "reflect"]  # "reflect" and "evaluate" were superseded unwritten


def test_compaction_preserves_content_and_shrinks_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(AppendStorage, "COMPACT_MIN_BYTES", 16 * 1024)
    path = tmp_path / "s"
    log = path / LOG_NAME
    with SessionStore.create(path, CONFIG) as store:
        fill(store)
        peak = 0
        for i in range(600):  # each state supersedes the last: garbage for compaction
            store.set_state({"step": i, "phase": "evaluate", "beam": [f"p{j}" for j in range(5)]})
            peak = max(peak, log.stat().st_size)
        storage = store._db.storage
        assert log.read_bytes().startswith(b'{"snap":')
        assert storage.log_size <= max(16 * 1024, AppendStorage.COMPACT_RATIO * storage.live_size)
        assert peak < 40 * 1024  # the 600 state lines alone are ~65 KB without compaction
        store.set_state({"step": 2, "phase": "refine"})
        check_filled(store)
    assert not (path / (LOG_NAME + ".tmp")).exists()
    with SessionStore.open(path) as store:
        check_filled(store)


def test_read_only_refuses_writes(tmp_path):
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        fill(store)
    before = (path / LOG_NAME).read_bytes()
    with SessionStore.open(path, read_only=True) as store:
        for write in (
            lambda: store.add_decision(sample_decision("x")),
            lambda: store.add_call(sample_call()),
            lambda: store.add_prompt(sample_prompt("x")),
            lambda: store.set_state({}),
            store.flush,
        ):
            with pytest.raises(ReadOnlyError):
                write()
    for read_only in ({"read_only": True}, {"access_mode": "r"}):  # the latter as JSONStorage spells it
        with TinyDB(path, storage=AppendStorage, **read_only) as db:
            with pytest.raises(ReadOnlyError):
                db.table("decisions").insert({"proposal_id": "x"})
            with pytest.raises(ReadOnlyError):  # TinyDB changes the documents before it writes
                db.table("decisions").update({"kind": "changed"})
            assert {d["kind"] for d in db.table("decisions").all()} == {"reject", "edit", "accept"}
    assert (path / LOG_NAME).read_bytes() == before


def test_read_only_follows_a_writer(tmp_path, monkeypatch):
    monkeypatch.setattr(AppendStorage, "COMPACT_MIN_BYTES", 4 * 1024)
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as writer:
        with SessionStore.open(path, read_only=True) as reader:  # no lock needed to read
            assert reader.decisions() == {}
            writer.add_decision(sample_decision("a"))
            assert set(reader.decisions()) == {"a"}
            for i in range(300):  # forces compactions: the reader notices the file was replaced
                writer.set_state({"i": i, "pad": "x" * 100})
            writer.add_decision(sample_decision("b"))
            assert set(reader.decisions()) == {"a", "b"}
            assert reader.state()["i"] == 299


def test_create_refuses_an_existing_session_and_open_a_missing_one(tmp_path):
    path = tmp_path / "s"
    SessionStore.create(path, CONFIG).close()
    with pytest.raises(FileExistsError):
        SessionStore.create(path, CONFIG)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        SessionStore.create(tmp_path / "other", CONFIG)
    with pytest.raises(FileNotFoundError):
        SessionStore.open(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        SessionStore.open(tmp_path / "other")


def test_closed_store_refuses_use(tmp_path):
    store = SessionStore.create(tmp_path / "s", CONFIG)
    store.close()
    store.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        store.add_decision(sample_decision())
    with pytest.raises(ValueError, match="closed"):
        store.decisions()


def test_summary(tmp_path):
    with SessionStore.create(tmp_path / "run.session", {**CONFIG, "method": {"name": "apo"}}) as store:
        assert session_summary(store)["steps"] == 0 and session_summary(store)["best_dev"] is None
        store.add_step(sample_step(0, dev=0.5, test=0.4))
        store.add_step(sample_step(1, dev=0.8, test=0.7))
        store.add_step(sample_step(2, dev=0.6, test=0.9))
        summary = session_summary(store)
    assert summary["name"] == "run.session"
    assert (summary["task"], summary["method"]) == ("gen:navigate", "apo")
    assert (summary["steps"], summary["best_dev"], summary["test_of_best"], summary["best_step"]) == (3, 0.8, 0.7, 1)
    assert summary["updated"] >= summary["created"]
    assert summary["warnings"] == []  # a sound file


# --------------------------------------------------------------------- secrets
@pytest.mark.parametrize(
    "config",
    [
        {"api_key": "sk-abc"},
        {"models": {"optimizer": {"spec": "openai:gpt-4o", "openai_api_key": "sk-abc"}}},
        {"headers": {"Authorization": "Bearer x"}},
        {"hf_token": "hf_abc"},
        {"endpoints": [{"accessToken": "abc"}]},
        {"anthropic-key": "abc"},
    ],
)
def test_config_with_secrets_is_refused(tmp_path, config):
    with pytest.raises(ValueError, match="secret"):
        SessionStore.create(tmp_path / "s", {**CONFIG, **config})
    assert not (tmp_path / "s").exists()


def test_ordinary_config_keys_are_not_mistaken_for_secrets(tmp_path):
    config = {**CONFIG, "max_tokens": 512, "token_budget": 100000, "keywords": ["a"], "monkey": "x"}
    SessionStore.create(tmp_path / "s", config).close()
    with SessionStore.open(tmp_path / "s", read_only=True) as store:
        assert store.config == config


def test_config_holding_an_env_key_value_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-123")
    with pytest.raises(ValueError, match="_API_KEY"):
        SessionStore.create(tmp_path / "s", {**CONFIG, "note": "key is sk-test-SECRET-123"})


def test_api_key_values_are_scrubbed_from_every_file(tmp_path, monkeypatch):
    secret = "sk-test-SECRET-123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    path = tmp_path / "run.session"
    with SessionStore.create(path, CONFIG) as store:
        leaked = sample_call(1, text=f"my key is {secret}!")
        leaked = type(leaked)(**{**leaked.__dict__, "error": f"401 Incorrect API key provided: {secret}"})
        store.add_call(leaked)
        store.add_proposal(sample_proposal("p", text=f"use {secret}"))
        store.set_state({"note": secret})
        store.add_decision(sample_decision("p"))
        assert secret not in store.calls()[0].text  # buffered records are scrubbed too
    for file in path.iterdir():
        assert secret.encode() not in file.read_bytes(), file.name
    with SessionStore.open(path, read_only=True) as store:
        call = store.calls()[0]
        assert call.text == "my key is [REDACTED]!"
        assert "[REDACTED]" in call.error


def test_secret_never_written_to_disk_even_in_the_first_batch(tmp_path, monkeypatch):
    # The scrub happens before anything is encoded to a line, so no fsynced byte holds the key.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-0123456789")
    path = tmp_path / "s"
    with SessionStore.create(path, CONFIG) as store:
        for i in range(store_module.CALL_BATCH):
            store.add_call(sample_call(i, text="sk-ant-0123456789"))
        raw = (path / LOG_NAME).read_bytes()
    assert b"sk-ant-0123456789" not in raw and b"[REDACTED]" in raw
    lines = [json.loads(line) for line in raw.splitlines()]
    assert any("calls" in line.get("put", {}) for line in lines)
