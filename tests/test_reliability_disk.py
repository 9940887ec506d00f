"""A full disk (ENOSPC) while a session is written: a clear error naming the session
and the cause, memory as on disk, every acknowledged decision kept, and the same
store going on once there is space.

The disk is a real 1 MB tmpfs mounted for the test (this needs root, which the
CI container has).  Only where mounting is impossible do the tests fall back to
injecting ENOSPC at ``os.write`` for files on the "disk"; the fixture's ``kind``
says which ran and each test prints it.
"""
from __future__ import annotations

import errno
import json
import math
import os
import subprocess

import pytest

from reflectloop.core.types import Decision
from reflectloop.sessions import AppendStorage, SessionStore, SessionWriteError
from reflectloop.sessions.logfile import LogFile
from reflectloop.sessions.storage import LOG_NAME

from .test_store_codec import sample_call

CONFIG = {"task": "gen:navigate", "method": "apo"}


class TmpfsDisk:
    kind = "tmpfs"

    def __init__(self, root) -> None:
        self.root = root
        root.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)],
                       check=True, capture_output=True)
        self._filler = root / "filler"

    def fill(self, leave: int = 0) -> None:
        """Take all the free space but ``leave`` bytes."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while (want := self._free() - leave) > 0:
                try:
                    os.write(fd, bytes(min(want, 1 << 16)))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        finally:
            os.close(fd)

    def free_up(self) -> None:
        self._filler.unlink()

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], check=True, capture_output=True)

    def _free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize


class InjectedDisk:
    """Where no filesystem can be mounted: a quota on os.write for files under ``root``,
    counted from their sizes, so truncating or removing a file frees space as on a disk."""

    kind = "injected ENOSPC at os.write"

    def __init__(self, root, monkeypatch) -> None:
        self.root = root
        root.mkdir()
        self.capacity = math.inf
        real_write = os.write

        def write(fd, data):
            if self.capacity != math.inf and os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)):
                free = self.capacity - self._used()
                if free <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                data = memoryview(data)[:free]
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)

    def fill(self, leave: int = 0) -> None:
        self.capacity = self._used() + leave

    def free_up(self) -> None:
        self.capacity = math.inf

    def close(self) -> None:
        pass

    def _used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


@pytest.fixture
def disk(tmp_path, monkeypatch):
    try:
        d = TmpfsDisk(tmp_path / "disk")
    except (OSError, subprocess.CalledProcessError):
        d = InjectedDisk(tmp_path / "disk-injected", monkeypatch)
    print(f"full disk: {d.kind}")
    yield d
    d.close()


def decision(i: int, size: int = 5000) -> Decision:
    # Bigger than a page, so a write can end part-way when the disk fills.
    return Decision(f"d{i}", "edit", text=f"{i}:" + "x" * size, by="human")


def assert_whole_lines(path) -> None:
    data = (path / LOG_NAME).read_bytes()
    assert data.endswith(b"\n"), "a partial line was left in the log"
    for line in data.splitlines():
        json.loads(line)


def test_a_full_disk_refuses_a_write_clearly_and_keeps_every_acknowledged_decision(disk):
    path = disk.root / "run.session"
    store = SessionStore.create(path, CONFIG)
    acknowledged = []
    for i in range(5):
        store.add_decision(decision(i))
        acknowledged.append(f"d{i}")
    disk.fill()
    store.add_call(sample_call(0))  # buffered: rides along with the next decision
    with pytest.raises(SessionWriteError) as refused:
        for i in range(5, 500):  # the log's last page may still hold a little
            store.add_decision(decision(i))
            acknowledged.append(f"d{i}")
    error = refused.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC, disk.kind
    assert str(error).startswith("session run.session: could not write records for calls, decisions: "
                                 "the disk is full (no space left on device)")
    assert "everything saved before it is intact" in str(error)
    assert_whole_lines(path)
    assert set(store.decisions()) == set(acknowledged)  # memory did not run ahead of the disk
    with SessionStore.open(path, read_only=True) as reader:  # readable while the disk is full
        assert set(reader.decisions()) == set(acknowledged)
        assert reader.calls() == []

    disk.free_up()
    retried = f"d{len(acknowledged)}"
    store.add_decision(decision(len(acknowledged)))  # the same store goes on
    store.close()
    with SessionStore.open(path) as store:
        assert set(store.decisions()) == {*acknowledged, retried}
        assert store.calls() == [sample_call(0)]  # the buffered call was kept, not dropped
        assert store.warnings == []


def test_a_session_opens_on_a_full_disk_and_says_why_a_write_fails(disk):
    path = disk.root / "run.session"
    with SessionStore.create(path, CONFIG) as store:
        store.add_decision(decision(0))
    disk.fill()
    with SessionStore.open(path) as store:  # even the lock's holder text does not fit
        assert set(store.decisions()) == {"d0"}
        with pytest.raises(SessionWriteError, match="session run.session: could not write records for decisions"):
            store.add_decision(decision(1, size=70_000))
    disk.free_up()
    with SessionStore.open(path) as store:
        store.add_decision(decision(1))
        assert set(store.decisions()) == {"d0", "d1"}


def test_a_compaction_that_does_not_fit_waits_and_the_write_that_needed_it_stands(disk, monkeypatch):
    replaced = []
    real_replace = LogFile.replace
    monkeypatch.setattr(LogFile, "replace", lambda log, content: replaced.append(1) or real_replace(log, content))
    monkeypatch.setattr(AppendStorage, "COMPACT_MIN_BYTES", 1 << 30)  # none while the session fills
    path = disk.root / "run.session"
    log = path / LOG_NAME
    store = SessionStore.create(path, CONFIG)
    for i in range(20):
        store.add_decision(decision(i, size=2000))  # ~40 KB of live data
    for i in range(150):
        store.set_state({"i": i, "pad": "s" * 1000})  # ~150 KB of garbage
    disk.fill(leave=16 * 1024)  # room for appends, not for the ~40 KB compacted log
    monkeypatch.setattr(AppendStorage, "COMPACT_MIN_BYTES", 8 * 1024)

    store.set_state({"i": "after"})  # appended, then compaction is due and fails
    assert store.state() == {"i": "after"} and len(replaced) == 1
    (warning,) = store.warnings
    assert warning == ("the log could not be compacted: the disk is full (no space left on device); "
                       "it is complete and is compacted once there is space"), disk.kind
    assert not log.with_name(LOG_NAME + ".tmp").exists()
    assert not log.read_bytes().startswith(b'{"snap":')
    for i in range(3):
        store.set_state({"i": f"still full {i}"})
    assert len(replaced) == 1  # not retried on every write: appends stay O(appended)

    disk.free_up()
    for i in range(500):  # a retry comes once as much again has been written
        store.set_state({"i": i, "pad": "t" * 1000})
        if log.read_bytes().startswith(b'{"snap":'):
            break
    assert store.warnings == [] and len(replaced) == 2
    store.close()
    with SessionStore.open(path) as store:
        assert set(store.decisions()) == {f"d{i}" for i in range(20)}
        assert store.state()["i"] == i
