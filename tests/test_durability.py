"""SIGKILL a writer at random moments and inside compaction: the session always
reopens and keeps every acknowledged decision.

Each round starts a child that continues the same session: it records
decisions in a loop and prints each id only after ``add_decision`` returned
(the moment the UI would show "saved").  It also records a new state each time (superseding the last) and
records calls, so the log fills with garbage and compacts often (the
threshold is lowered in the child).  Most rounds are killed at a random
moment; some while the child is still opening the session.  Random kills
land inside a compaction only by luck, so some rounds arrange it: the child
stops at a chosen point inside ``LogFile.replace`` -- half-way through
writing the new log, with it written but not yet renamed, or just after the
rename -- says so, and is killed there.  The test asserts every one of
those kills landed where it was meant to.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from tinydb import TinyDB

from reflectloop.sessions import AppendStorage, SessionStore

from .test_reliability_child import Child

ROUNDS = 80
SEED = 20240502
# Points inside compaction, each taken by every 8th round at a different offset.
POINTS = {2: "writing", 4: "renaming", 6: "renamed"}
STARTUP = 7  # rounds killed while opening

CHILD = """
import os, signal, sys
from reflectloop.core.types import CallRecord, Decision, Message, Params
from reflectloop.sessions import AppendStorage, SessionStore, logfile

AppendStorage.COMPACT_MIN_BYTES = 16 * 1024  # compact often
AppendStorage.COMPACT_RATIO = 1.5
path, round_, point = sys.argv[1], sys.argv[2], sys.argv[3]


def stop(name):
    print("paused", name, flush=True)
    signal.pause()  # until the parent kills us


if point == "writing":  # half of the new log written under its temporary name
    write_fully = logfile._write_fully
    def half_then_stop(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            write_fully(fd, data[: len(data) // 2])
            stop(point)
        write_fully(fd, data)
    logfile._write_fully = half_then_stop
elif point in ("renaming", "renamed"):
    replace = os.replace
    def stop_around_rename(src, dst):
        if point == "renaming":
            stop(point)
        replace(src, dst)
        stop(point)
    os.replace = stop_around_rename

store = SessionStore.open(path)
print("ready", flush=True)
i = 0
while True:
    pid = f"r{round_}-{i}"
    store.add_decision(Decision(pid, "edit", text="x" * (i % 300), by="script"))
    print(pid, flush=True)
    store.set_state({"round": round_, "i": i, "pad": "s" * 2000})  # garbage: drives compaction
    if i % 10 == 0:
        store.add_call(CallRecord("local:smollm2", "target", "evaluate", (Message("user", "q" * 600),),
                                  Params(), "a" * 200, None, 0.01, False, 1))
    i += 1
"""


def random_round(child: Child, round_: int, rng: random.Random) -> list[str]:
    """Killed at a random moment; returns the ids it acknowledged."""
    if round_ % 8 == STARTUP:
        time.sleep(rng.uniform(0.0, 0.12))  # kill while starting up / replaying / repairing
        return [line for line in child.kill() if line != "ready"]
    assert child.lines_until("ready") == []
    time.sleep(rng.uniform(0.02, 0.2))
    return child.kill()


def compaction_round(child: Child, point: str, log: Path) -> tuple[list[str], bool]:
    """Killed at ``point`` inside a compaction; returns the acknowledged ids and whether
    the files showed the kill landed there."""
    before = log.stat().st_ino
    assert child.lines_until("ready") == []
    acknowledged = child.lines_until(f"paused {point}")
    tmp = log.with_name(log.name + ".tmp")
    if point == "renamed":
        landed = not tmp.exists() and log.stat().st_ino != before
    else:
        landed = tmp.exists() and log.stat().st_ino == before
    return acknowledged + child.kill(), landed


def test_sigkill_never_loses_an_acknowledged_decision(tmp_path):
    path = tmp_path / "run.session"
    log = path / "log.jsonl"
    SessionStore.create(path, {"task": "gen:navigate", "method": "abo"}).close()
    rng = random.Random(SEED)
    acknowledged: list[str] = []
    log_files = set()  # a compaction replaces the log file: count the distinct ones seen
    landed: Counter[str] = Counter()  # arranged kills that the files show inside compaction
    by_luck = 0  # random kills that left a compaction's temporary file behind
    for round_ in range(ROUNDS):
        point = POINTS.get(round_ % 8)
        child = Child(CHILD, str(path), str(round_), point or "none")
        if point:
            ids, inside = compaction_round(child, point, log)
            landed[point] += inside
        else:
            ids = random_round(child, round_, rng)
            by_luck += log.with_name("log.jsonl.tmp").exists()
        acknowledged += ids
        log_files.add(log.stat().st_ino)

    arranged = Counter(POINTS[r % 8] for r in range(ROUNDS) if r % 8 in POINTS)
    assert landed == arranged, f"kills meant for compaction that landed elsewhere: {arranged - landed}"
    assert len(log_files) > 5, "no compactions happened"

    with TinyDB(path, storage=AppendStorage, read_only=True) as db:
        stored = {d["proposal_id"] for d in db.table("decisions").all()}
    missing = [pid for pid in acknowledged if pid not in stored]
    assert not missing, f"{len(missing)} acknowledged decisions lost, e.g. {missing[:5]}"
    assert len(acknowledged) > ROUNDS * 5, "the children barely wrote anything: the test proves little"

    with SessionStore.open(path) as store:  # a writer can continue after all that
        assert set(acknowledged) <= set(store.decisions())
        assert store.state()["pad"] == "s" * 2000
        assert store.damage == []
    assert not log.with_name("log.jsonl.tmp").exists()  # a dead compaction's leftover is cleaned up
    print(f"{ROUNDS} kills, {len(acknowledged)} acknowledged decisions, {len(log_files)} log files, "
          f"{sum(landed.values())} arranged kills inside compaction ({dict(landed)}), {by_luck} by luck")
