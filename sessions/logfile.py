"""One append-only JSON-lines file: durable appends, torn-tail recovery, atomic replacement.

This module knows about bytes, lines and fsync, nothing about TinyDB.  Every
record is one JSON object on one line terminated by ``\\n``.  A writer that is
killed part-way through an append leaves at most one unterminated line at the
end of the file; that line was never acknowledged (``append`` fsyncs before it
returns), so it is dropped when reading and truncated away when a writer
reopens the file.  A complete line that does not parse is tolerated only at
the tail (garbage left after a power loss); anywhere else it means the file
was damaged from outside, and silently skipping it could drop acknowledged
writes, so that raises :class:`CorruptLogError` instead.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

_NEWLINE = b"\n"


class CorruptLogError(RuntimeError):
    """A complete line in the middle of the log does not parse."""


def parse_lines(data: bytes, path: Path, base: int = 0) -> tuple[list[dict], int]:
    """Parse the complete, valid lines of ``data``.

    Returns the records and how many bytes they span; bytes past that are a
    torn or garbage tail that the caller must not treat as written.
    """
    records: list[dict] = []
    consumed = 0
    bad_at: int | None = None
    start = 0
    while True:
        end = data.find(_NEWLINE, start)
        if end < 0:
            break  # unterminated tail: a write that never finished
        record = _parse(data[start:end])
        if record is None:
            if bad_at is None:
                bad_at = base + start
        elif bad_at is not None:
            # A good line after a bad one: the bad line is not a torn tail.
            raise CorruptLogError(f"{path}: unreadable line at byte {bad_at} followed by valid data")
        else:
            records.append(record)
            consumed = end + 1
        start = end + 1
    return records, consumed


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
        return None
    return record if isinstance(record, dict) else None


def fsync_dir(path: Path) -> None:
    """Make a created, renamed or removed directory entry durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LogFile:
    """The log of one session, opened either for writing or for following.

    ``size`` is always the end of the last valid line: the point the next
    append starts at, or the point a follower has read up to.
    """

    def __init__(self, path: Path, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self.size = 0
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        if writable:
            self._open_for_append()

    # ----------------------------------------------------------------- reading
    def read_all(self) -> list[dict]:
        """Read every valid record from the start; a writer also repairs the tail."""
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        records, self.size = parse_lines(data, self.path)
        self._identity = (st.st_dev, st.st_ino)
        if self.writable and self.size < len(data):
            # Drop the unacknowledged tail now so later appends start on a line boundary.
            os.ftruncate(self._fd, self.size)
            os.fsync(self._fd)
        return records

    def read_new(self) -> list[dict] | None:
        """Records appended since the last read, for a read-only follower.

        Returns None when the file was replaced (compacted) or shrank: the
        caller must then start over with ``read_all``.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []  # the session was deleted under us: keep showing what was read
        if (st.st_dev, st.st_ino) != self._identity or st.st_size < self.size:
            return None
        if st.st_size == self.size:
            return []
        with open(self.path, "rb") as f:
            if os.fstat(f.fileno()).st_ino != st.st_ino:
                return None
            f.seek(self.size)
            data = f.read()
        records, consumed = parse_lines(data, self.path, base=self.size)
        self.size += consumed
        return records

    # ----------------------------------------------------------------- writing
    def append(self, line: bytes) -> None:
        """Append one terminated line and fsync it: on return it survives a crash."""
        assert line.endswith(_NEWLINE), "a log line must end with a newline"
        try:
            _write_fully(self._fd, line)
            os.fsync(self._fd)
        except BaseException:
            # A partial line must not stay in front of the next append.
            _best_effort_truncate(self._fd, self.size)
            raise
        self.size += len(line)

    def replace(self, content: bytes) -> None:
        """Atomically make ``content`` the whole log (used by compaction).

        The new content is fully on disk under a temporary name before the
        rename, and the directory is fsynced after it, so a crash leaves
        either the old log or the new one, never a mix.
        """
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            _write_fully(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        os.close(self._fd)
        self._open_for_append()
        self.size = len(content)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open_for_append(self) -> None:
        created = not self.path.exists()
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o644)
        if created:
            fsync_dir(self.path.parent)  # the new file's name must survive a crash too
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)
        # A crash during an earlier compaction may have left its temporary file.
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


def _write_fully(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _best_effort_truncate(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass  # the original error is the one worth reporting
