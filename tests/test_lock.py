"""One writer per session, across real processes; a lock left by a killed writer is taken over."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import read_line

from reflectloop.sessions import SessionLockedError, SessionStore

from .test_store_codec import sample_decision

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys
from reflectloop.sessions import SessionStore
store = SessionStore.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()  # hold the session until the parent closes our stdin (or kills us)
store.close()
"""

SECOND_WRITER = """
import sys
from reflectloop.sessions import SessionStore, SessionLockedError
try:
    SessionStore.open(sys.argv[1]).close()
except SessionLockedError as exc:
    print(exc)
    sys.exit(3)
print("opened")
"""


def python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kwargs.setdefault("text", True)
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, **kwargs)


@pytest.fixture
def session(tmp_path) -> Path:
    path = tmp_path / "run.session"
    SessionStore.create(path, {"task": "gen:navigate"}).close()
    return path


@pytest.fixture
def holder(session):
    proc = python(HOLDER, str(session), stdin=subprocess.PIPE, text=False)  # binary: read_line's pipe
    assert read_line(proc).strip() == "ready"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_a_second_writer_process_is_refused_with_the_holders_pid(session, holder):
    second = python(SECOND_WRITER, str(session))
    out, _ = second.communicate(timeout=30)
    assert second.returncode == 3, out
    assert f"pid {holder.pid} on " in out
    assert "session run.session is open in another reflectloop" in out
    assert "close it or open read-only" in out


def test_refused_in_process_too_but_reading_works(session, holder):
    with pytest.raises(SessionLockedError, match=f"pid {holder.pid} on .*, since (\\d{{4}}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d\\)"):
        SessionStore.open(session)
    with SessionStore.open(session, read_only=True) as store:
        assert store.config == {"task": "gen:navigate"}


def test_the_lock_is_free_again_after_a_clean_close(session, holder):
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    with SessionStore.open(session) as store:
        assert store.meta["recovered_from"] is None
        store.add_decision(sample_decision("after"))


def test_a_stale_lock_from_a_killed_process_is_taken_over(session, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    left_behind = json.loads((session / "lock").read_text())
    assert left_behind["pid"] == holder.pid  # the dead writer's text is still there
    with SessionStore.open(session) as store:
        assert store.meta["recovered_from"]["pid"] == holder.pid
        assert json.loads((session / "lock").read_text())["pid"] == os.getpid()
        store.add_decision(sample_decision("after-crash"))
        # ... and now this process is the holder others are told about.
        second = python(SECOND_WRITER, str(session))
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 3 and f"pid {os.getpid()} on " in out


def test_the_same_process_cannot_open_two_writers(session):
    with SessionStore.open(session):
        with pytest.raises(SessionLockedError, match=f"pid {os.getpid()}"):
            SessionStore.open(session)
