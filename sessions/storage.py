"""A TinyDB storage that appends instead of rewriting: ``TinyDB(path, storage=AppendStorage)``.

A session is a directory ``PATH/`` holding ``log.jsonl`` and ``lock``.  Each
TinyDB write becomes exactly one appended line with only the documents that
changed (put/delete by id, dropped tables) and is fsynced before ``write``
returns; opening replays the lines.  ``snap`` lines (written by compaction)
hold the whole state and reset it.

Why one log for all tables rather than one per table: one line is then the
unit of atomicity across tables -- a write is either entirely in the file or
entirely absent -- which needs no cross-file ordering or recovery; every
write costs a single fsync; and the torn-tail rule ("the last line may be
incomplete") has one place to apply.  The usual price of a single log, a
compaction that rewrites everything, is rarely paid here because the bulk
(LLM calls, decisions) is append-only and is never garbage: compaction only
runs once the log holds ``COMPACT_RATIO`` times the live data, i.e. after
many updates or deletions, and is then amortised over them.

The storage keeps the current state in memory (TinyDB reads it on every
operation anyway) and finds what changed in O(changed), see ``tracking``.
Opened with ``read_only=True`` it takes no lock, refuses writes, and picks up
lines that a writer elsewhere appends (a compaction is noticed by the file's
identity changing).  TinyDB's per-table query cache does not see those
updates; ``Table.all()`` and iteration do.
"""
from __future__ import annotations

import os
from pathlib import Path

from tinydb.storages import Storage

from .lock import SessionLock
from .logfile import LogFile, fsync_dir
from .tracking import Changes, TableDiff, TrackedDoc, diff, encode, encoded_size

LOG_NAME = "log.jsonl"


class ReadOnlyError(PermissionError):
    """A write to a session opened read-only."""


class AppendStorage(Storage):
    #: compact when the log is this many times the size of the live documents ...
    COMPACT_RATIO = 4.0
    #: ... and at least this big (below it, replay is instant anyway)
    COMPACT_MIN_BYTES = 1 << 20

    def __init__(self, path: str | os.PathLike, read_only: bool = False, access_mode: str | None = None) -> None:
        """``access_mode`` is accepted as in TinyDB's JSONStorage: "r" means read-only, "r+" a writer."""
        self.path = Path(path)
        self.read_only = read_only or _read_only_mode(access_mode)
        self._tables: dict[str, dict[str, TrackedDoc]] = {}
        self._touched: dict[str, set[str]] = {}
        self._handed: dict | None = None  # the dict our last read() returned
        self._live = 0  # bytes of the live documents' JSON
        self._lock: SessionLock | None = None
        self._log: LogFile | None = None
        if read_only:
            self._open_read_only()
        else:
            self._open_for_writing()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writer"
        return f"<AppendStorage {self.path} {mode}>"

    # ------------------------------------------------------------------ opening
    def _open_read_only(self) -> None:
        log = self.path / LOG_NAME
        if not log.is_file():
            raise FileNotFoundError(f"no session at {self.path} (missing {LOG_NAME})")
        self._log = LogFile(log, writable=False)
        self._load(self._log.read_all())

    def _open_for_writing(self) -> None:
        if not self.path.is_dir():
            self.path.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.path.parent)
        self._lock = SessionLock(self.path)
        self._lock.acquire()
        try:
            self._log = LogFile(self.path / LOG_NAME, writable=True)
            self._load(self._log.read_all())
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ TinyDB's API
    def read(self) -> dict[str, dict]:
        self._check_open()
        if self.read_only:
            self._follow()
        # A fresh outer dict: TinyDB replaces tables in it before calling write(),
        # and seeing it come back tells write() the fast path applies.
        self._handed = dict(self._tables)
        return self._handed

    def write(self, data: dict[str, dict]) -> None:
        self._check_writable()
        trusted = data is self._handed
        self._handed = None
        self._commit(diff(self._tables, data, self._touched, trusted=trusted))

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ---------------------------------------------------------------- extras
    def append(self, tables: dict[str, dict[str, dict]]) -> None:
        """Add new documents by table and id in O(len(docs)), bypassing TinyDB's
        full-table rebuild; several tables at once are one line: all or nothing."""
        self._check_writable()
        changes = Changes()
        for name, docs in tables.items():
            current = self._tables.get(name)
            created = current is None
            current = {} if created else current
            for doc_id in docs:
                if doc_id in current:
                    raise ValueError(f"Document with ID {doc_id} already exists in table {name!r}")
            changes.tables[name] = TableDiff(current, put=dict(docs), created=created)
        self._commit(changes)

    def compact(self) -> None:
        """Rewrite the log as one snapshot line, atomically."""
        self._check_writable()
        encoded = {name: {i: encode(doc) for i, doc in t.items()} for name, t in self._tables.items()}
        live = sum(len(text) for docs in encoded.values() for text in docs.values())
        self._log.replace(_line({"snap": _docs_json(encoded)}, live))
        for name, docs in encoded.items():
            for doc_id, text in docs.items():
                self._tables[name][doc_id].size = len(text)
        self._live = live

    @property
    def log_size(self) -> int:
        return self._log.size if self._log else 0

    @property
    def live_size(self) -> int:
        return self._live

    def modified(self) -> float:
        """When the session was last written (the log's mtime)."""
        return os.stat(self.path / LOG_NAME).st_mtime

    @property
    def stale_lock(self):
        """The holder of a lock left by a writer that crashed, if this open took one over."""
        return self._lock.stale if self._lock else None

    # ----------------------------------------------------------------- writing
    def _commit(self, changes: Changes) -> None:
        if changes:
            try:
                encoded = {
                    name: {doc_id: encode(doc) for doc_id, doc in d.put.items()}
                    for name, d in changes.tables.items()
                    if d
                }
                live = self._live_after(changes, encoded)
                self._log.append(_change_line(changes, encoded, live))
            except Exception:
                # TinyDB's in-place updates already changed our documents (e.g. to a value
                # JSON cannot hold): go back to what is on disk, so memory never runs ahead of it.
                self._load(self._log.read_all())
                raise
            self._adopt(changes, encoded)
            self._live = live
        for ids in self._touched.values():
            ids.clear()
        self._maybe_compact()

    def _live_after(self, changes: Changes, encoded: dict[str, dict[str, str]]) -> int:
        live = self._live
        for name in changes.drop:
            live -= sum(_size(doc) for doc in self._tables[name].values())
        for name, docs in encoded.items():
            before = self._tables.get(name, {})
            for doc_id in changes.tables[name].delete:
                live -= _size(before[doc_id])
            for doc_id, text in docs.items():
                previous = before.get(doc_id)
                live += len(text) - (_size(previous) if previous is not None else 0)
        return live

    def _adopt(self, changes: Changes, encoded: dict[str, dict[str, str]]) -> None:
        for name in changes.drop:
            del self._tables[name]
            self._touched.pop(name, None)
        for name, d in changes.tables.items():
            touched = self._touched.setdefault(name, set())
            for doc_id, doc in d.put.items():
                size = len(encoded[name][doc_id])
                if type(doc) is TrackedDoc and doc._touched is touched:
                    doc.size = size  # updated in place: already ours
                else:
                    d.table[doc_id] = TrackedDoc(doc, touched, doc_id, size)
            self._tables[name] = d.table

    def _maybe_compact(self) -> None:
        if self._log.size > max(self.COMPACT_MIN_BYTES, self.COMPACT_RATIO * self._live):
            self.compact()

    # ----------------------------------------------------------------- reading
    def _load(self, records: list[dict]) -> None:
        self._tables, self._touched, self._live = {}, {}, -1
        for record in records:
            self._apply(record)
        if self._live < 0:  # a log without the running total: count once
            self._live = sum(encoded_size(d) for t in self._tables.values() for d in t.values())

    def _apply(self, record: dict) -> None:
        if "snap" in record:
            self._tables, self._touched = {}, {}
            self._put_all(record["snap"])
        for name in record.get("drop", ()):
            self._tables.pop(name, None)
            self._touched.pop(name, None)
        for name, ids in record.get("del", {}).items():
            table = self._tables.get(name, {})
            for doc_id in ids:
                table.pop(doc_id, None)
        self._put_all(record.get("put", {}))
        self._live = record.get("live", -1)

    def _put_all(self, tables: dict[str, dict]) -> None:
        for name, docs in tables.items():
            table = self._tables.setdefault(name, {})
            touched = self._touched.setdefault(name, set())
            for doc_id, doc in docs.items():
                table[doc_id] = TrackedDoc(doc, touched, doc_id)

    def _follow(self) -> None:
        records = self._log.read_new()
        if records is None:  # compacted (replaced) by the writer: start over
            self._load(self._log.read_all())
        else:
            for record in records:
                self._apply(record)

    # ------------------------------------------------------------------ guards
    def _check_open(self) -> None:
        if self._log is None:
            raise ValueError(f"session storage {self.path} is closed")

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"session {self.path.name} is open read-only")
        self._check_open()


def _read_only_mode(access_mode: str | None) -> bool:
    if access_mode is None:
        return False
    if access_mode not in ("r", "rb", "r+", "rb+"):
        raise ValueError(f"access_mode must be 'r' or 'r+', not {access_mode!r}")
    return "+" not in access_mode


def _size(doc: dict) -> int:
    if isinstance(doc, TrackedDoc) and doc.size >= 0:
        return doc.size
    return encoded_size(doc)


def _docs_json(encoded: dict[str, dict[str, str]]) -> str:
    """``{"table":{"id":doc,...},...}`` from documents already encoded one by one."""
    return "{" + ",".join(
        encode(name) + ":{" + ",".join(encode(i) + ":" + text for i, text in docs.items()) + "}"
        for name, docs in encoded.items()
    ) + "}"


def _change_line(changes: Changes, encoded: dict[str, dict[str, str]], live: int) -> bytes:
    # Replay applies drop, then del, then put: the order written here.
    sections = {}
    if changes.drop:
        sections["drop"] = encode(changes.drop)
    deletes = {name: d.delete for name, d in changes.tables.items() if d.delete}
    if deletes:
        sections["del"] = encode(deletes)
    puts = {name: docs for name, docs in encoded.items() if docs or changes.tables[name].created}
    if puts:
        sections["put"] = _docs_json(puts)
    return _line(sections, live)


def _line(sections: dict[str, str], live: int) -> bytes:
    body = ",".join(f'"{key}":{value}' for key, value in sections.items())
    return ("{" + body + f',"live":{live}' + "}\n").encode("ascii")
