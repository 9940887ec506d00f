"""AppendStorage under TinyDB's own operations, checked against TinyDB's MemoryStorage."""
from __future__ import annotations

import json
import random

import pytest
from tinydb import Query, TinyDB
from tinydb.operations import delete, increment
from tinydb.storages import MemoryStorage
from tinydb.table import Document

from sessions import AppendStorage
from sessions.storage import LOG_NAME
from sessions.table import AppendDB

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


def test_update_appends_only_the_changed_document(tmp_path):
    path = tmp_path / "s"
    with TinyDB(path, storage=AppendStorage) as db:
        t = db.table("t")
        t.insert_multiple({"i": i} for i in range(500))
        t.update({"seen": True}, doc_ids=[250])
        assert last_line(path)["put"] == {"t": {"250": {"i": 249, "seen": True}}}
        t.remove(doc_ids=[7])
        assert last_line(path)["del"] == {"t": ["7"]}
        t.insert({"i": "new"})
        assert last_line(path)["put"] == {"t": {"501": {"i": "new"}}}


def test_a_write_that_changes_nothing_appends_nothing(tmp_path):
    path = tmp_path / "s"
    with TinyDB(path, storage=AppendStorage) as db:
        db.table("t").insert({"i": 1})
        size = (path / LOG_NAME).stat().st_size
        db.table("t").update({"x": 1}, Query().i == 99)  # matches nothing; TinyDB still writes
        assert (path / LOG_NAME).stat().st_size == size


def test_a_foreign_dict_passed_to_write_is_fully_diffed(tmp_path):
    path = tmp_path / "s"
    storage = AppendStorage(path)
    storage.write({"t": {"1": {"a": 1}, "2": {"a": 2}}})
    storage.write({"t": {"1": {"a": 1}, "3": {"a": 3}}, "u": {}})  # not the dict read() handed out
    assert last_line(path) == {"del": {"t": ["2"]}, "put": {"t": {"3": {"a": 3}}, "u": {}}, "live": 14}
    storage.close()
    reopened = AppendStorage(path, read_only=True)
    assert reopened.read() == {"t": {"1": {"a": 1}, "3": {"a": 3}}, "u": {}}
    reopened.close()


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
