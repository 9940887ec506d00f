"""AppendStorage under TinyDB's own operations, checked against TinyDB's MemoryStorage."""
from __future__ import annotations

import json
import random

import pytest
from tinydb import Query, TinyDB
from tinydb.operations import delete, increment
from tinydb.storages import MemoryStorage
from tinydb.table import Document

from reflectloop.sessions import AppendStorage
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.table import AppendDB

TABLES = ("a", "b", "c")


def contents(db: TinyDB) -> dict:
    """Every table's documents with ids, in TinyDB's order."""
    return {name: [(d.doc_id, dict(d)) for d in db.table(name).all()] for name in sorted(db.tables())}


def random_op(rng: random.Random):
    """One TinyDB operation as a function of a db, chosen and parametrised by ``rng``."""
    name = rng.choice(TABLES)
    value = rng.randrange(20)
    kind = rng.choices(
        ["insert", "insert_multiple", "update", "increment", "delete_field", "upsert", "remove_id",
         "remove_cond", "explicit_id", "truncate", "drop_table"],
        weights=[30, 10, 10, 8, 5, 8, 8, 5, 3, 1, 1],
    )[0]
    q = Query()

    def op(db: TinyDB) -> None:
        t = db.table(name)
        if kind == "insert":
            t.insert({"v": value, "s": "é" * (value % 3), "nested": {"xs": [value]}})
        elif kind == "insert_multiple":
            t.insert_multiple({"v": value + i} for i in range(3))
        elif kind == "update":
            t.update({"u": value}, q.v < value)
        elif kind == "increment":
            t.update(increment("v"), q.v == value)
        elif kind == "delete_field":
            t.update(delete("u"), q.u.exists())
        elif kind == "upsert":
            t.upsert({"v": value, "up": True}, q.v == value)
        elif kind == "remove_id":
            ids = [d.doc_id for d in t.all()]
            if ids:
                t.remove(doc_ids=[ids[value % len(ids)]])
        elif kind == "remove_cond":
            t.remove(q.v == value)
        elif kind == "explicit_id":
            doc_id = 1000 + value
            if not t.contains(doc_id=doc_id):
                t.insert(Document({"v": value, "explicit": True}, doc_id=doc_id))
        elif kind == "truncate":
            t.truncate()
        else:
            db.drop_table(name)

    return op


@pytest.mark.parametrize("db_class", [TinyDB, AppendDB], ids=["stock-table", "append-table"])
def test_random_operations_match_memory_storage_across_reopens(tmp_path, monkeypatch, db_class):
    monkeypatch.setattr(AppendStorage, "COMPACT_MIN_BYTES", 2048)  # compact often
    rng = random.Random(20240501)
    path = tmp_path / "db.session"
    reference = TinyDB(storage=MemoryStorage)
    db = db_class(path, storage=AppendStorage)
    for round_ in range(12):
        for _ in range(60):
            op = random_op(rng)
            op(reference)
            op(db)
        assert contents(db) == contents(reference)
        db.close()
        db = db_class(path, storage=AppendStorage)  # replay from disk
        assert contents(db) == contents(reference), f"after reopen {round_}"
        # Reopen the reference too: TinyDB forgets its next-id counter on reopen.
        reference = reopen_memory(reference)
    db.close()
    assert b'{"snap":' in (path / LOG_NAME).read_bytes()[:8]  # compaction did run


def reopen_memory(db: TinyDB) -> TinyDB:
    fresh = TinyDB(storage=MemoryStorage)
    fresh.storage.memory = db.storage.memory
    return fresh


def last_line(path) -> dict:
    return json.loads((path / LOG_NAME).read_bytes().splitlines()[-1])


def lines(path) -> list[dict]:
    return [json.loads(line) for line in (path / LOG_NAME).read_bytes().splitlines()]


def test_appends_are_one_line_and_other_writes_rewrite_the_log(tmp_path):
    path = tmp_path / "s"
    with AppendDB(path) as db:
        t = db.table("t")
        t.insert_multiple({"i": i} for i in range(500))
        t.insert({"i": "new"})
        assert lines(path)[-1] == {"put": {"t": {"501": {"i": "new"}}}, "live": last_line(path)["live"]}
        assert len(lines(path)) == 2
        t.update({"seen": True}, doc_ids=[250])  # TinyDB hands over the complete data: one snapshot of it
        t.remove(doc_ids=[7])
        (snap,) = lines(path)
        assert snap["snap"]["t"]["250"] == {"i": 249, "seen": True} and "7" not in snap["snap"]["t"]
        assert len(snap["snap"]["t"]) == 500
        t.insert({"i": "after"})  # appending again
        assert last_line(path)["put"] == {"t": {"502": {"i": "after"}}}
        expected = contents(db)
    with AppendDB(path) as db:
        assert contents(db) == expected


def test_a_dict_passed_to_write_becomes_the_whole_log(tmp_path):
    path = tmp_path / "s"
    storage = AppendStorage(path)
    storage.write({"t": {"1": {"a": 1}, "2": {"a": 2}}})
    storage.write({"t": {"1": {"a": 1}, "3": {"a": 3}}, "u": {}})  # not the dict read() handed out
    assert lines(path) == [{"snap": {"t": {"1": {"a": 1}, "3": {"a": 3}}, "u": {}}, "live": 14}]
    storage.close()
    reopened = AppendStorage(path, read_only=True)
    assert reopened.read() == {"t": {"1": {"a": 1}, "3": {"a": 3}}, "u": {}}
    reopened.close()


def test_a_latest_only_table_holds_its_last_document_and_compaction_keeps_only_it(tmp_path):
    path = tmp_path / "s"
    with AppendDB(path, latest_only=["state"]) as db:
        db.table("calls").insert({"n": 0})
        for i in range(5):
            db.table("state").insert({"i": i, "pad": "x" * 100})
        assert [dict(d) for d in db.table("state").all()] == [{"i": 4, "pad": "x" * 100}]
        assert db.table("state").all()[0].doc_id == 5  # ids keep counting: every record is appended
        live = len('{"n":0}') + len('{"i":4,"pad":"' + "x" * 100 + '"}')
        assert db.storage.live_size == live  # the four superseded ones are garbage
        assert sum("state" in line.get("put", {}) for line in lines(path)) == 5  # all still in the log
        with AppendDB(path, read_only=True, latest_only=["state"]) as reader:
            assert [d["i"] for d in reader.table("state").all()] == [4]
        with AppendDB(path, read_only=True) as plain:  # without the rule a reader sees every record
            assert [d["i"] for d in plain.table("state").all()] == [0, 1, 2, 3, 4]
        db.storage.compact()
        (snap,) = lines(path)
        assert snap["snap"]["state"] == {"5": {"i": 4, "pad": "x" * 100}} and snap["live"] == live
        db.table("state").insert({"i": 5})
    with AppendDB(path, latest_only=["state"]) as db:
        assert [(d.doc_id, dict(d)) for d in db.table("state").all()] == [(6, {"i": 5})]
        assert db.storage.live_size == len('{"n":0}') + len('{"i":5}')


def test_logs_of_earlier_writers_replay(tmp_path):
    """In-place updates (a put of an existing id), removals and dropped tables, as
    the storage wrote them for TinyDB's updates before it rewrote the log for them."""
    path = tmp_path / "s"
    path.mkdir()
    (path / LOG_NAME).write_bytes(b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in [
        {"put": {"t": {"1": {"a": 1}, "2": {"a": 2}, "3": {"a": 3}}, "gone": {"1": {}}}, "live": 23},
        {"put": {"t": {"2": {"a": 2, "seen": True}}}, "live": 35},
        {"del": {"t": ["1"]}, "live": 28},
        {"drop": ["gone"], "live": 26},
        {"put": {"state": {"1": {"state": {"step": 1}}}}, "live": 46},
        {"put": {"state": {"1": {"state": {"step": 2}}}}, "live": 46},
    ]))
    for opened in (lambda: TinyDB(path, storage=AppendStorage, access_mode="r"),
                   lambda: AppendDB(path, latest_only=["state"])):
        with opened() as db:
            assert contents(db) == {"state": [(1, {"state": {"step": 2}})],
                                    "t": [(2, {"a": 2, "seen": True}), (3, {"a": 3})]}
            assert db.storage.live_size == 46


def test_drop_tables_and_empty_tables_survive_reopen(tmp_path):
    path = tmp_path / "s"
    with TinyDB(path, storage=AppendStorage) as db:
        db.table("kept", persist_empty=True)
        db.table("x").insert({"a": 1})
        db.drop_tables()
        db.table("empty", persist_empty=True)
    with TinyDB(path, storage=AppendStorage) as db:
        assert db.tables() == {"empty"}


def test_live_size_is_exact_after_updates_and_reopen(tmp_path):
    path = tmp_path / "s"
    with TinyDB(path, storage=AppendStorage) as db:
        t = db.table("t")
        t.insert_multiple({"i": i, "pad": "x" * i} for i in range(50))
    with TinyDB(path, storage=AppendStorage) as db:  # replayed docs have unknown sizes
        t = db.table("t")
        t.update({"pad": "y"}, Query().i < 10)
        t.remove(Query().i > 40)
        expected = sum(len(json.dumps(d, separators=(",", ":"))) for d in db.storage.read()["t"].values())
        assert db.storage.live_size == expected


def test_a_failed_write_leaves_memory_as_on_disk(tmp_path):
    path = tmp_path / "s"
    with TinyDB(path, storage=AppendStorage) as db:
        t = db.table("t")
        t.insert({"a": 1})
        with pytest.raises(TypeError):
            t.update({"bad": object()}, doc_ids=[1])  # mutates the stored doc, then cannot be encoded
        assert t.get(doc_id=1) == {"a": 1}
        with pytest.raises(TypeError):
            t.insert({"bad": {1, 2}})
        t.insert({"b": 2})  # the storage is not wedged
    with TinyDB(path, storage=AppendStorage) as db:
        assert [dict(d) for d in db.table("t").all()] == [{"a": 1}, {"b": 2}]
