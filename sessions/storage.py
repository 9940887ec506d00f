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
Opened with ``read_only=True`` (or ``access_mode="r"``, as TinyDB's
JSONStorage spells it) it takes no lock, refuses writes, and picks up lines
that a writer elsewhere appends (a compaction is noticed by the file's
identity changing).  TinyDB's per-table query cache does not see those
updates; ``Table.all()`` and iteration do.

Failures: a write the disk refuses (full, quota, I/O error) raises
:class:`SessionWriteError` and leaves memory as on disk, so the session goes
on once there is space; a compaction that fails is postponed, since the log
it would have replaced is complete.  Lines damaged in the middle of the log
are skipped and listed in ``damage``; a writer sets their bytes aside in
``log.jsonl.corrupt`` and rewrites the log without them.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from tinydb.storages import Storage

from .lock import SessionLock
from .logfile import DamagedLine, LogFile, fsync_dir
from .tracking import Changes, TableDiff, TrackedDoc, diff, encode, encoded_size

LOG_NAME = "log.jsonl"


class ReadOnlyError(PermissionError):
    """A write to a session opened read-only."""


class SessionWriteError(OSError):
    """The disk refused a write (full, over quota, failing): none of it is in the
    session, and every record acknowledged before it still is."""

    _REASONS = {
        errno.ENOSPC: "the disk is full (no space left on device)",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EIO: "the disk reported an I/O error",
    }

    def __init__(self, session: Path, what: str, cause: OSError) -> None:
        self.session = session
        self.cause = cause
        self.reason = self._REASONS.get(cause.errno, cause.strerror or str(cause))
        super().__init__(
            cause.errno,
            f"session {session.name}: could not write {what}: {self.reason}, at {session}; "
            "nothing of it was written and everything saved before it is intact",
        )

    def __str__(self) -> str:
        return self.strerror


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
        self._compact_at = 0  # log size below which no compaction is tried (raised after a failure)
        #: why the last compaction failed, while none has succeeded since
        self.compaction_error: SessionWriteError | None = None
        #: where this open set damaged lines aside, if it found any
        self.corrupt_file: Path | None = None
        if self.read_only:
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
            if self._log.damage:
                self._set_damage_aside()
        except BaseException:
            self.close()
            raise

    def _set_damage_aside(self) -> None:
        # The bad bytes are durable in the .corrupt file before the log is rewritten without them.
        try:
            self.corrupt_file = self._log.set_aside(self._log.damage)
        except OSError as exc:
            raise SessionWriteError(self.path, f"the damaged lines to {self._log.corrupt_path.name}", exc) from exc
        self.compact()

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
        if self.read_only and self._log is not None:
            # TinyDB's updates change our documents before calling write(): undo that.
            self._load(self._log.read_all())
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
        try:
            self._log.replace(_line({"snap": _docs_json(encoded)}, live))
        except OSError as exc:
            raise SessionWriteError(self.path, "the compacted log", exc) from exc
        self.compaction_error, self._compact_at = None, 0
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
    def damage(self) -> list[DamagedLine]:
        """Lines in the middle of the log that did not parse: skipped, every other record read."""
        return list(self._log.damage) if self._log else []

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
            except Exception as exc:
                # TinyDB's in-place updates already changed our documents (e.g. to a value
                # JSON cannot hold): go back to what is on disk, so memory never runs ahead of it.
                self._load(self._log.read_all())
                if isinstance(exc, OSError):
                    raise SessionWriteError(self.path, _what(changes), exc) from exc
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
        size = self._log.size
        if size > max(self.COMPACT_MIN_BYTES, self.COMPACT_RATIO * self._live, self._compact_at):
            try:
                self.compact()
            except SessionWriteError as exc:
                # The write that got us here is on disk and the log is whole: compaction can
                # wait.  Retrying only after as much again has been written keeps appends
                # O(changed) on a disk that stays full.
                self.compaction_error = exc
                self._compact_at = size + max(self.COMPACT_MIN_BYTES, self._live)

    # ----------------------------------------------------------------- reading
    def _load(self, records: list[dict]) -> None:
        self._tables, self._touched, self._live = {}, {}, -1
        for record in records:
            self._apply(record)
        if self._live < 0 and not self.read_only:  # a log without the running total: count once
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
            if self.read_only:
                table.update(docs)  # fresh from json.loads, and a reader never writes: nothing to track
                continue
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


def _what(changes: Changes) -> str:
    """The tables a failed write was for, as the error names them."""
    names = sorted(set(changes.drop) | {name for name, d in changes.tables.items() if d})
    return "records for " + ", ".join(names) if names else "a change"


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
