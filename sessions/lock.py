"""One writer per session: an ``flock`` on ``PATH/lock``.

The kernel releases an flock when its holder dies, however it dies, so a
lock left behind by a crashed or killed reflectloop is simply free: the next
writer takes it over without guessing whether a pid is still alive (pids are
reused; a pid check across hosts is impossible).  The file's text -- pid,
host and start time of the holder -- only serves the error message.  The file
itself is never deleted: unlinking a lock file while others may have it open
lets two processes hold locks on two different inodes.

``flock`` needs a POSIX system; on network filesystems it is only as good as
the filesystem's lock support.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path


class SessionLockedError(RuntimeError):
    """Another process is writing this session."""


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    host: str
    since: float | None

    def describe(self) -> str:
        pid = self.pid if self.pid is not None else "unknown"
        return f"pid {pid} on {self.host or 'unknown host'}, since {_clock(self.since)}"


class SessionLock:
    def __init__(self, session_dir: Path) -> None:
        self.session_dir = session_dir
        self.path = session_dir / "lock"
        self._fd: int | None = None
        #: The holder recorded by a writer that never released the lock (it crashed or was killed).
        self.stale: LockHolder | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _wait_for_holder_text(fd)
            os.close(fd)
            raise SessionLockedError(self._locked_message(holder)) from None
        except BaseException:
            os.close(fd)
            raise
        # Text left in a lock we could take belongs to a writer that died holding it.
        self.stale = _read_holder(fd)
        _write_holder(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file means "closed cleanly"
        finally:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def _locked_message(self, holder: LockHolder | None) -> str:
        who = holder.describe() if holder else "pid unknown"
        return (
            f"session {self.session_dir.name} is open in another reflectloop ({who}); "
            "close it or open read-only"
        )


def _write_holder(fd: int) -> None:
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)
    except OSError:
        # The flock is the lock; the text only names us in others' errors.  On a full
        # disk it cannot be written, and refusing to open would not free any space.
        pass


def _wait_for_holder_text(fd: int) -> LockHolder | None:
    # The holder writes its text right after taking the lock; give it a moment.
    for _ in range(5):
        holder = _read_holder(fd)
        if holder is not None:
            return holder
        time.sleep(0.02)
    return None


def _read_holder(fd: int) -> LockHolder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw) if raw.strip() else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    since = data.get("since")
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        host=str(data.get("host") or ""),
        since=since if isinstance(since, (int, float)) else None,
    )


def _clock(at: float | None) -> str:
    """16:40 for today, 2024-05-01 16:40 for an older start."""
    if at is None:
        return "unknown time"
    then = time.localtime(at)
    today = time.localtime()
    if then[:3] == today[:3]:
        return time.strftime("%H:%M", then)
    return time.strftime("%Y-%m-%d %H:%M", then)
