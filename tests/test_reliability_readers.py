"""Readers of a session that a run is writing: they take no lock, never wait for
the writer's, and never see a torn record.

``TinyDB(path, storage=AppendStorage, access_mode="r")`` -- the README's way
in -- is such a reader.  ``reflectloop sessions``, ``export`` and ``audit`` are
run while a real writer process holds the session and writes to it: in bursts
(reads overlapping the writes as they happen) and stopped half-way through
writing a line (the torn bytes are on disk while the readers read).
"""
from __future__ import annotations

import json

import pytest
from tinydb import TinyDB

from reflectloop.core.types import Decision
from reflectloop.sessions import AppendStorage, SessionLockedError, SessionStore
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.tui.cli import main as cli

from .test_reliability_child import Child
from .test_store_codec import sample_decision

ROUNDS = 8
BURST = 30  # iterations the writer runs per round

WRITER = """
import os, sys
from reflectloop.core.types import Decision, Prompt, StepRecord
from reflectloop.sessions import AppendStorage, SessionStore, logfile
from tests.test_store_codec import sample_call, sample_evaluation, sample_proposal

AppendStorage.COMPACT_MIN_BYTES = 32 * 1024  # compactions happen while the readers read
tear = False
write_fully = logfile._write_fully


def half_then_wait(fd, data):
    global tear
    if tear and os.readlink(f"/proc/self/fd/{fd}").endswith("log.jsonl"):
        tear = False
        write_fully(fd, data[: len(data) // 2])
        print("torn", flush=True)
        assert sys.stdin.readline() == "go\\n"  # the parent reads the torn file meanwhile
        data = data[len(data) // 2:]
    write_fully(fd, data)


logfile._write_fully = half_then_wait


def step(store, i):
    store.add_prompt(Prompt(f"p{i}", f"instruction {i}", step=i))
    store.add_evaluation(i, sample_evaluation(f"p{i}", "dev", n=4))
    store.add_proposal(sample_proposal(f"f{i}", step=i, text=f"feedback {i} " * 20))
    store.add_call(sample_call(i))
    store.add_step(StepRecord(i, (f"p{i}",), {f"p{i}": 0.5}, f"p{i}", 0.5, 0.4, 10, 1))
    store.add_decision(Decision(f"f{i}", "edit", text=f"edited {i}", by="human", at=1.7e9 + i))
    store.set_state({"step": i, "pad": "s" * 3000})  # garbage: drives compaction


i = 0
with SessionStore.create(sys.argv[1], {"task": "gen:navigate", "method": "apo"}) as store:
    print("ready", flush=True)
    for command in sys.stdin:
        name, n = command.split()
        tear = name == "tear"  # the first line of the next step stops half-way
        for _ in range(int(n)):
            step(store, i)
            print(i, flush=True)  # acknowledged: every record of step i is on disk
            i += 1
        print("idle", flush=True)
"""


def ids(db: TinyDB) -> set[str]:
    return {d["proposal_id"] for d in db.table("decisions").all()}


def test_tinydb_access_mode_r_opens_a_reader_that_takes_no_lock(tmp_path):
    path = tmp_path / "run.session"
    with SessionStore.create(path, {"task": "gen:navigate"}) as writer:
        writer.add_decision(sample_decision("a"))
        with TinyDB(path, storage=AppendStorage, access_mode="r") as db:  # while the writer holds it
            assert db.storage.read_only and ids(db) == {"a"}
            writer.add_decision(sample_decision("b"))  # the writer is not blocked ...
            assert ids(db) == {"a", "b"}  # ... and the reader follows it
    with TinyDB(path, storage=AppendStorage, access_mode="r") as db:
        with SessionStore.open(path) as writer:  # a reader opened first does not lock a run out
            writer.add_decision(sample_decision("c"))
            assert ids(db) == {"a", "b", "c"}
    with pytest.raises(ValueError, match="access_mode must be 'r' or 'r\\+', not 'w'"):
        TinyDB(path, storage=AppendStorage, access_mode="w")


def read_everything(root, path, out, capsys) -> dict[str, int]:
    """Every reader once; checks each sees whole records only, and returns what each saw."""
    with SessionStore.open(path, read_only=True) as store:
        decisions = store.decisions()
        steps = [s.step for s in store.steps()]
        proposals = {p.id for p in store.proposals()}
    n = len(decisions)
    assert set(decisions) == {f"f{i}" for i in range(n)}, "decisions are not a prefix of those written"
    assert all(d.text == f"edited {d.proposal_id[1:]}" for d in decisions.values()), "a decision was read torn"
    assert set(decisions) <= proposals and steps == list(range(len(steps))) and len(steps) >= n

    assert cli(["sessions", "--dir", str(root)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.endswith(path.name)]
    assert "unreadable" not in row
    listed = int(row.split()[4])  # updated is two columns: date and time

    assert cli(["export", str(path), "--format", "jsonl", "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["human_text"] == f"edited {r['proposal_id'][1:]}" for r in records)
    assert [r["proposal_id"] for r in records] == [f"f{i}" for i in range(len(records))]

    assert cli(["audit", str(path), "--json", "--resamples", "10"]) == 0
    (audited,) = json.loads(capsys.readouterr().out)["sessions"]
    curve = [point["step"] for point in audited["curve"]]
    assert curve == list(range(len(curve)))
    return {"store": n, "sessions": listed, "export": len(records), "audit": len(curve)}


def test_sessions_export_and_audit_read_while_a_run_writes(tmp_path, capsys):
    root = tmp_path / "sessions"
    path = root / "run.session"
    writer = Child(WRITER, str(path), commands=True)
    try:
        assert writer.lines_until("ready") == []
        acknowledged = 0  # steps the writer reported saved before a read began
        for round_ in range(ROUNDS):
            tear = round_ % 2 == 1
            writer.send(f"{'tear' if tear else 'burst'} {BURST}")
            if tear:
                acknowledged += len(writer.lines_until("torn"))  # half a line is on disk now
                assert not (path / LOG_NAME).read_bytes().endswith(b"\n")
            with pytest.raises(SessionLockedError):  # the writer holds the lock throughout
                SessionStore.open(path)
            seen = read_everything(root, path, tmp_path / "out.jsonl", capsys)
            assert min(seen.values()) >= acknowledged, f"a reader missed saved steps: {seen}"
            if tear:
                assert max(seen.values()) == acknowledged, f"a reader saw the torn step: {seen}"
                writer.send("go")
            acknowledged += len(writer.lines_until("idle"))
        assert writer.proc.poll() is None  # it wrote throughout; no reader disturbed it
    finally:
        writer.kill()
    with SessionStore.open(path) as store:
        assert len(store.decisions()) == acknowledged == ROUNDS * BURST
        assert store.damage == []
