"""One append-only JSON-lines file: durable appends, torn-tail recovery, atomic replacement.

This module knows about bytes, lines and fsync, nothing about TinyDB.  Every
record is one JSON object on one line terminated by ``\\n``.  A writer that is
killed part-way through an append leaves at most one unterminated line at the
end of the file; that line was never acknowledged (``append`` fsyncs before it
returns), so it is dropped when reading and truncated away when a writer
reopens the file.  A complete line that does not parse is treated the same
way only at the tail (garbage left after a power loss).  Anywhere else the
file was damaged from outside: the line is reported by position
(:class:`DamagedLine`), every other record is still read, and a writer keeps
the bad bytes in ``log.jsonl.corrupt`` (:meth:`LogFile.set_aside`) before the
log is rewritten without them -- skipped, never silently dropped.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

_NEWLINE = b"\n"
CORRUPT_SUFFIX = ".corrupt"


@dataclass(frozen=True)
class DamagedLine:
    """A complete line in the middle of the log that does not parse."""

    line: int  # 1-based line number in the file it was found in
    offset: int  # byte offset of its first byte
    data: bytes = field(repr=False)

    def describe(self) -> str:
        return f"line {self.line} (byte {self.offset}, {len(self.data)} bytes)"


@dataclass
class Parsed:
    records: list[dict]
    consumed: int  # bytes up to the end of the last valid line; past it is a torn or garbage tail
    lines: int  # complete lines within ``consumed``
    damaged: list[DamagedLine]


def parse_lines(data: bytes, base: int = 0, first_line: int = 1) -> Parsed:
    """Parse ``data``, which starts at byte ``base`` and line ``first_line`` of the file.

    An unparsable line followed by a valid one is damage; unparsable lines
    with nothing valid after them are the tail, which the caller must not
    treat as written.
    """
    records: list[dict] = []
    damaged: list[DamagedLine] = []
    suspects: list[DamagedLine] = []  # bad lines not yet known to be followed by a good one
    consumed = lines = 0
    start, number = 0, first_line
    find = data.find
    while (end := find(_NEWLINE, start)) >= 0:
        record = _parse(data[start:end])
        if record is None:
            suspects.append(DamagedLine(number, base + start, bytes(data[start:end])))
        else:
            if suspects:
                damaged += suspects
                suspects = []
            records.append(record)
            consumed, lines = end + 1, number - first_line + 1
        start, number = end + 1, number + 1
    return Parsed(records, consumed, lines, damaged)


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
        return None
    return record if isinstance(record, dict) else None


_SET_ASIDE_HEADER = re.compile(rb"^# (\d+) unreadable line\(s\) of [^,\n]*, set aside [^:\n]*:\d\d:\d\d: (.*)$", re.M)


def set_aside(corrupt: Path) -> tuple[int, list[str]]:
    """How many lines earlier opens set aside in ``corrupt`` (a ``.corrupt``
    file), and their positions in the log they came from, read from the
    headers :meth:`LogFile.set_aside` writes; (0, []) when there is none."""
    try:
        data = corrupt.read_bytes()
    except FileNotFoundError:
        return 0, []
    count, where = 0, []
    for match in _SET_ASIDE_HEADER.finditer(data):
        count += int(match.group(1))
        where.append(match.group(2).decode("utf-8", "replace"))
    return count, where


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
    append starts at, or the point a follower has read up to.  ``damage``
    lists the damaged lines found so far, in the order found.
    """

    def __init__(self, path: Path, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self.size = 0
        self.damage: list[DamagedLine] = []
        self._lines = 0  # complete lines within ``size``
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        if writable:
            self._open_for_append()

    @property
    def corrupt_path(self) -> Path:
        return self.path.with_name(self.path.name + CORRUPT_SUFFIX)

    # ----------------------------------------------------------------- reading
    def read_all(self) -> list[dict]:
        """Read every valid record from the start; a writer also repairs the tail."""
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        parsed = parse_lines(data)
        self.size, self._lines = parsed.consumed, parsed.lines
        self.damage += [d for d in parsed.damaged if d not in self.damage]  # a re-read finds them again
        self._identity = (st.st_dev, st.st_ino)
        if self.writable and self.size < len(data):
            # Drop the unacknowledged tail now so later appends start on a line boundary.
            assert self._fd is not None  # a writer holds its log open
            os.ftruncate(self._fd, self.size)
            os.fsync(self._fd)
        return parsed.records

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
        parsed = parse_lines(data, base=self.size, first_line=self._lines + 1)
        self.size += parsed.consumed
        self._lines += parsed.lines
        self.damage += parsed.damaged
        return parsed.records

    # ----------------------------------------------------------------- writing
    def append(self, line: bytes) -> None:
        """Append one terminated line and fsync it: on return it survives a crash."""
        assert line.endswith(_NEWLINE), "a log line must end with a newline"
        assert self._fd is not None, "append needs a writable log"
        try:
            _write_fully(self._fd, line)
            os.fsync(self._fd)
        except BaseException:
            # A partial line must not stay in front of the next append.
            _best_effort_truncate(self._fd, self.size)
            raise
        self.size += len(line)
        self._lines += 1

    def set_aside(self, damaged: list[DamagedLine]) -> Path:
        """Append damaged lines, verbatim, to ``log.jsonl.corrupt`` (fsynced) before
        the caller rewrites the log without them.

        A crash between the two leaves the lines in both files; they are set
        aside again on the next open, so a line may appear twice, never zero times.
        """
        positions = ", ".join(d.describe() for d in damaged)
        header = f"# {len(damaged)} unreadable line(s) of {self.path.name}, set aside {time.strftime('%Y-%m-%d %H:%M:%S')}: {positions}\n"
        target = self.corrupt_path
        created = not target.exists()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            _write_fully(fd, header.encode() + b"".join(d.data + _NEWLINE for d in damaged))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(target.parent)
        return target

    def replace(self, content: bytes) -> None:
        """Atomically make ``content`` the whole log (used by compaction).

        The new content is fully on disk under a temporary name before the
        rename, and the directory is fsynced after it, so a crash leaves
        either the old log or the new one, never a mix.  A failure before the
        rename (a full disk) leaves the old log in use and no temporary file.
        """
        assert self._fd is not None, "only a writer compacts"
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            _write_fully(fd, content)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, self.path)
        # From the rename on, the new file is the log: switch to it before anything else
        # can fail, or later appends would go to the unlinked old file.
        os.close(self._fd)
        self._open_for_append()
        self.size, self._lines = len(content), content.count(_NEWLINE)
        fsync_dir(self.path.parent)

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
