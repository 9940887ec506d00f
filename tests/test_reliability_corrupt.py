"""A line damaged in the middle of ``log.jsonl``: reported by line and byte, every
other record recovered, the bad bytes kept in ``log.jsonl.corrupt``."""
from __future__ import annotations

import pytest
from tinydb import TinyDB

from reflectloop.sessions import AppendStorage, SessionStore
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.summary import session_summary

from .test_store_codec import sample_decision

CORRUPT = LOG_NAME + ".corrupt"
IDS = [f"d{i}" for i in range(12)]


@pytest.fixture
def session(tmp_path):
    """A session whose decisions are one line each (line 1 is the meta record)."""
    path = tmp_path / "run.session"
    with SessionStore.create(path, {"task": "gen:navigate"}) as store:
        for pid in IDS:
            store.add_decision(sample_decision(pid))
    return path


def damage(path, pid: str, how: bytes = b"#") -> tuple[int, int, bytes]:
    """Overwrite the start of the line holding decision ``pid``; returns its line number,
    byte offset and the damaged line's bytes."""
    log = path / LOG_NAME
    data = log.read_bytes()
    at = data.index(f'"proposal_id":"{pid}"'.encode())
    start = data.rindex(b"\n", 0, at) + 1
    end = data.index(b"\n", at)
    broken = how + data[start + len(how):end]
    log.write_bytes(data[:start] + broken + data[end:])
    return data[:start].count(b"\n") + 1, start, broken


def test_a_reader_recovers_every_other_record_and_reports_the_position(session):
    line, offset, broken = damage(session, "d4")
    before = (session / LOG_NAME).read_bytes()
    with SessionStore.open(session, read_only=True) as store:
        assert sorted(store.decisions()) == sorted(set(IDS) - {"d4"})
        assert [(d.line, d.offset, d.data) for d in store.damage] == [(line, offset, broken)]
        (warning,) = store.warnings
        assert f"line {line} (byte {offset}, {len(broken)} bytes)" in warning
        assert "every other record recovered" in warning and CORRUPT in warning
        assert session_summary(store)["warnings"] == [warning]
    assert (session / LOG_NAME).read_bytes() == before  # a reader never modifies the file
    assert not (session / CORRUPT).exists()


def test_a_writer_sets_the_bad_bytes_aside_and_rewrites_a_sound_log(session):
    line, offset, broken = damage(session, "d4")
    with SessionStore.open(session) as store:
        assert sorted(store.decisions()) == sorted(set(IDS) - {"d4"})
        assert [d.line for d in store.damage] == [line]
        (warning,) = store.warnings
        assert f"their bytes are kept in {CORRUPT}" in warning
        store.add_decision(sample_decision("after"))
    kept = (session / CORRUPT).read_bytes().split(b"\n")
    assert kept[0].startswith(b"# 1 unreadable line(s) of log.jsonl") and f"line {line} (byte {offset}".encode() in kept[0]
    assert kept[1] == broken and kept[2:] == [b""]  # verbatim, byte for byte
    with SessionStore.open(session, read_only=True) as store:
        assert store.damage == []  # the log itself is sound again
        assert sorted(store.decisions()) == sorted((set(IDS) - {"d4"}) | {"after"})
        [warning] = store.warnings
        assert warning.startswith(f"{CORRUPT} holds unreadable lines set aside by an earlier open (line {line} (byte")
        assert store.unread[0] == 1


def test_several_damaged_lines_and_a_torn_tail(session):
    found = [damage(session, pid, how) for pid, how in (("d2", b"\x00\x00"), ("d3", b"}"), ("d9", b"[1]"))]
    log = session / LOG_NAME
    log.write_bytes(log.read_bytes() + b'{"put":{"decisions":{"99":{"proposal_id":"torn"')
    with SessionStore.open(session) as store:
        assert sorted(store.decisions()) == sorted(set(IDS) - {"d2", "d3", "d9"})
        assert [(d.line, d.offset, d.data) for d in store.damage] == found  # not the tail: never written
        assert "3 unreadable line(s)" in store.warnings[0]
    kept = (session / CORRUPT).read_bytes().split(b"\n")
    assert kept[1:4] == [b for _, _, b in found]


def test_damage_past_what_a_follower_read_is_found_at_its_position(session):
    with SessionStore.open(session) as writer, SessionStore.open(session, read_only=True) as reader:
        assert len(reader.decisions()) == len(IDS)
        writer.add_decision(sample_decision("new1"))
        line, offset, broken = damage(session, "new1")  # damaged after the writer wrote it
        writer.add_decision(sample_decision("new2"))
        assert "new2" in reader.decisions() and "new1" not in reader.decisions()
        assert [(d.line, d.offset, d.data) for d in reader.damage] == [(line, offset, broken)]


def test_plain_tinydb_users_see_the_damage_too(session):
    line, offset, _ = damage(session, "d7")
    with TinyDB(session, storage=AppendStorage, access_mode="r") as db:
        assert len(db.table("decisions").all()) == len(IDS) - 1
        assert [(d.line, d.offset) for d in db.storage.damage] == [(line, offset)]


def test_a_damaged_first_record_is_named_when_the_session_cannot_open(session):
    log = session / LOG_NAME
    data = log.read_bytes()
    log.write_bytes(b"?" + data[1:])  # line 1 holds the session's configuration
    with pytest.raises(ValueError, match=r"not a reflectloop session .*line 1 \(byte 0,"):
        SessionStore.open(session, read_only=True)
