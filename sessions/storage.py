"""A TinyDB storage that appends instead of rewriting: ``TinyDB(path, storage=AppendStorage)``.

A session is a directory ``PATH/`` holding ``log.jsonl`` and ``lock``.
Adding documents (:meth:`AppendStorage.append`, which ``AppendDB``'s inserts
and so every write of ``SessionStore`` go through) appends exactly one line
holding the new documents, fsynced before it returns; opening replays the
lines.  ``snap`` lines (written by compaction) hold the whole state and
reset it.  Any other TinyDB write -- an update, a removal, an insert through
a stock ``Table`` -- hands the storage the complete data, which is written
as such: the log is rewritten as one snapshot, atomically (O(session size),
correct for every TinyDB operation; reflectloop itself never does it).

Why one log for all tables rather than one per table: one line is then the
unit of atomicity across tables -- a write is either entirely in the file or
entirely absent -- which needs no cross-file ordering or recovery; every
write costs a single fsync; and the torn-tail rule ("the last line may be
incomplete") has one place to apply.  The usual price of a single log, a
compaction that rewrites everything, is rarely paid here because the bulk
(LLM calls, decisions) is append-only and is never garbage: compaction only
runs once the log holds ``COMPACT_RATIO`` times the live data, and is then
amortised over the writes that made the garbage.  The garbage is the
superseded documents of ``latest_only`` tables (the session's state): a
document appended to one of those replaces the table's earlier ones in
memory, and so in the next compaction, while the log keeps them until then.

The storage keeps the current state in memory (TinyDB reads it on every
operation anyway).  Opened with ``read_only=True`` (or ``access_mode="r"``,
as TinyDB's JSONStorage spells it) it takes no lock, refuses writes, and
picks up lines that a writer elsewhere appends (a compaction is noticed by
the file's identity changing).  TinyDB's per-table query cache does not see
those updates; ``Table.all()`` and iteration do.

Failures: a write the disk refuses (full, quota, I/O error) raises
:class:`SessionWriteError` and leaves memory as on disk, so the session goes
on once there is space; a compaction that fails is postponed, since the log
it would have replaced is complete.  Lines damaged in the middle of the log
are skipped and listed in ``damage``; a writer sets their bytes aside in
``log.jsonl.corrupt`` and rewrites the log without them.
"""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from tinydb.storages import Storage

from .lock import SessionLock
from .logfile import DamagedLine, LogFile, fsync_dir

LOG_NAME = "log.jsonl"

V = TypeVar("V")  # a table's documents: decoded dicts, or their encoded JSON text

# One encoder instance: json.dumps with options builds a new encoder per call.
# ensure_ascii keeps every Python str (even a lone surrogate) round-trippable.
encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


class ReadOnlyError(PermissionError):
    """A write to a session opened read-only."""


class SessionWriteError(OSError):
    """The disk refused a write (full, over quota, failing): none of it is in the
    session, and every record acknowledged before it still is."""

    _REASONS: dict[int | None, str] = {
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
        return self.strerror or super().__str__()


class AppendStorage(Storage):
    #: compact when the log is this many times the size of the live documents ...
    COMPACT_RATIO = 4.0
    #: ... and at least this big (below it, replay is instant anyway)
    COMPACT_MIN_BYTES = 1 << 20

    def __init__(
        self,
        path: str | os.PathLike,
        read_only: bool = False,
        access_mode: str | None = None,
        latest_only: Iterable[str] = (),
    ) -> None:
        """``access_mode`` is accepted as in TinyDB's JSONStorage: "r" means read-only, "r+" a writer.
        ``latest_only``: tables whose last appended document is the only current one."""
        self.path = Path(path)
        self.read_only = read_only or _read_only_mode(access_mode)
        self.latest_only = frozenset(latest_only)
        self._tables: dict[str, dict[str, dict]] = {}
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
            self.corrupt_file = self._open_log.set_aside(self._open_log.damage)
        except OSError as exc:
            raise SessionWriteError(self.path, f"the damaged lines to {self._open_log.corrupt_path.name}", exc) from exc
        self.compact()

    # ------------------------------------------------------------ TinyDB's API
    def read(self) -> dict[str, dict]:
        self._check_open()
        if self.read_only:
            self._follow()
        return dict(self._tables)  # a fresh outer dict: TinyDB replaces tables in it before calling write()

    def write(self, data: dict[str, dict]) -> None:
        """The complete data, after a TinyDB operation other than an append: the log is
        rewritten as one snapshot of it (atomically, as compaction does)."""
        if self.read_only and self._log is not None:
            # TinyDB's updates change our documents before calling write(): undo that.
            self._load(self._log.read_all())
        self._check_writable()
        tables = {name: self._keep_latest(name, dict(docs)) for name, docs in data.items()}
        try:
            self._rewrite(tables)
        except Exception as exc:
            # TinyDB's in-place updates already changed our documents (e.g. to a value
            # JSON cannot hold): go back to what is on disk, so memory never runs ahead of it.
            self._load(self._open_log.read_all())
            if isinstance(exc, OSError):
                raise SessionWriteError(self.path, "the rewritten log", exc) from exc
            raise
        self.compaction_error, self._compact_at = None, 0

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
        for name, docs in tables.items():
            current = self._tables.get(name, {})
            for doc_id in docs:
                if doc_id in current:
                    raise ValueError(f"Document with ID {doc_id} already exists in table {name!r}")
        # A new table is written even when empty, so that it exists on reopen.
        encoded = {
            name: {doc_id: encode(doc) for doc_id, doc in docs.items()}
            for name, docs in tables.items()
            if docs or name not in self._tables
        }
        if not encoded:
            return
        live = self._live_after(encoded)
        try:
            self._open_log.append(_line({"put": _docs_json(encoded)}, live))
        except OSError as exc:
            raise SessionWriteError(self.path, _what(encoded), exc) from exc
        self._put_all({name: tables[name] for name in encoded})
        self._live = live
        self._maybe_compact()

    def compact(self) -> None:
        """Rewrite the log as one snapshot line, atomically."""
        self._check_writable()
        try:
            self._rewrite(self._tables)
        except OSError as exc:
            raise SessionWriteError(self.path, "the compacted log", exc) from exc
        self.compaction_error, self._compact_at = None, 0

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
    def _rewrite(self, tables: dict[str, dict[str, dict]]) -> None:
        """Make ``tables`` the whole log (one ``snap`` line) and the state in memory."""
        encoded = {name: {i: encode(doc) for i, doc in docs.items()} for name, docs in tables.items()}
        live = sum(len(text) for docs in encoded.values() for text in docs.values())
        self._open_log.replace(_line({"snap": _docs_json(encoded)}, live))
        self._tables, self._live = tables, live

    def _live_after(self, encoded: dict[str, dict[str, str]]) -> int:
        """The live bytes once ``encoded`` is appended: a ``latest_only`` table's new
        document replaces the ones before it."""
        live = self._live
        for name, docs in encoded.items():
            if docs and name in self.latest_only:
                live -= sum(_size(doc) for doc in self._tables.get(name, {}).values())
            live += sum(len(text) for text in self._keep_latest(name, docs).values())
        return live

    def _maybe_compact(self) -> None:
        size = self._open_log.size
        if size > max(self.COMPACT_MIN_BYTES, self.COMPACT_RATIO * self._live, self._compact_at):
            try:
                self.compact()
            except SessionWriteError as exc:
                # The write that got us here is on disk and the log is whole: compaction can
                # wait.  Retrying only after as much again has been written keeps appends
                # O(appended) on a disk that stays full.
                self.compaction_error = exc
                self._compact_at = size + max(self.COMPACT_MIN_BYTES, self._live)

    # ----------------------------------------------------------------- reading
    def _load(self, records: list[dict]) -> None:
        self._tables, self._live = {}, -1
        for record in records:
            self._apply(record)
        if self._live < 0 and not self.read_only:  # a log without the running total: count once
            self._live = sum(_size(d) for t in self._tables.values() for d in t.values())

    def _apply(self, record: dict) -> None:
        if "snap" in record:
            self._tables = {}
            self._put_all(record["snap"])
        # ``drop`` and ``del`` are written by no current writer: logs from earlier
        # versions hold them for TinyDB's removals, and still replay.
        for name in record.get("drop", ()):
            self._tables.pop(name, None)
        for name, ids in record.get("del", {}).items():
            table = self._tables.get(name, {})
            for doc_id in ids:
                table.pop(doc_id, None)
        self._put_all(record.get("put", {}))
        self._live = record.get("live", -1)

    def _put_all(self, tables: dict[str, dict]) -> None:
        for name, docs in tables.items():
            table = self._tables.setdefault(name, {})
            if docs and name in self.latest_only:
                table.clear()
            table.update(self._keep_latest(name, docs))

    def _keep_latest(self, name: str, docs: dict[str, V]) -> dict[str, V]:
        """``docs`` as a table holds them: only the last of a ``latest_only`` table's."""
        if name not in self.latest_only or len(docs) < 2:
            return docs
        last = next(reversed(docs))
        return {last: docs[last]}

    def _follow(self) -> None:
        records = self._open_log.read_new()
        if records is None:  # compacted (replaced) by the writer: start over
            self._load(self._open_log.read_all())
        else:
            for record in records:
                self._apply(record)

    # ------------------------------------------------------------------ guards
    @property
    def _open_log(self) -> LogFile:
        """The log, open (every use but ``close`` needs it open)."""
        self._check_open()
        assert self._log is not None
        return self._log

    def _check_open(self) -> None:
        if self._log is None:
            raise ValueError(f"session storage {self.path} is closed")

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"session {self.path.name} is open read-only")
        self._check_open()


def _what(tables: dict[str, dict]) -> str:
    """The tables a failed append was for, as the error names them."""
    return "records for " + ", ".join(sorted(tables))


def _read_only_mode(access_mode: str | None) -> bool:
    if access_mode is None:
        return False
    if access_mode not in ("r", "rb", "r+", "rb+"):
        raise ValueError(f"access_mode must be 'r' or 'r+', not {access_mode!r}")
    return "+" not in access_mode


def _size(doc: dict) -> int:
    return len(encode(doc))


def _docs_json(encoded: dict[str, dict[str, str]]) -> str:
    """``{"table":{"id":doc,...},...}`` from documents already encoded one by one."""
    return "{" + ",".join(
        encode(name) + ":{" + ",".join(encode(i) + ":" + text for i, text in docs.items()) + "}"
        for name, docs in encoded.items()
    ) + "}"


def _line(sections: dict[str, str], live: int) -> bytes:
    body = ",".join(f'"{key}":{value}' for key, value in sections.items())
    return ("{" + body + f',"live":{live}' + "}\n").encode("ascii")
