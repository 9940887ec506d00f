"""SIGKILL a writer at random moments: the session always reopens and keeps every acknowledged decision.

Each round starts a child that continues the same session: it records
decisions in a loop and prints each id only after ``add_decision`` returned
(the moment the UI would show "saved").  It also replaces the state and
records calls, so kills land in compactions and batch flushes too; the
compaction threshold is lowered in the child so that happens often.  Some
rounds are killed while the child is still opening the session.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from tinydb import TinyDB

from sessions import AppendStorage, SessionStore

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 80
SEED = 20240502

CHILD = """
import sys
from core.types import CallRecord, Decision, Message, Params
from sessions import AppendStorage, SessionStore

AppendStorage.COMPACT_MIN_BYTES = 16 * 1024  # compact often, so some kills hit a compaction
AppendStorage.COMPACT_RATIO = 1.5
path, round_ = sys.argv[1], sys.argv[2]
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


def run_round(path: Path, round_: int, rng: random.Random) -> list[str]:
    """One child, killed at a random moment; returns the ids it acknowledged."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(round_)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    if round_ % 8 == 7:
        time.sleep(rng.uniform(0.0, 0.12))  # kill while starting up / replaying / repairing
    else:
        first = proc.stdout.readline()
        assert first == "ready\n", f"round {round_}: child failed to open: {first!r} {proc.stderr.read()}"
        time.sleep(rng.uniform(0.02, 0.2))
    proc.kill()
    out = proc.stdout.read()  # the rest, including anything readline buffered
    proc.wait(timeout=30)
    proc.stderr.close()
    # Only complete lines count as acknowledged; "ready" is not a decision.
    return [line for line in out.split("\n")[:-1] if line != "ready"]


def test_sigkill_never_loses_an_acknowledged_decision(tmp_path):
    path = tmp_path / "run.session"
    SessionStore.create(path, {"task": "gen:navigate", "method": "abo"}).close()
    rng = random.Random(SEED)
    acknowledged: list[str] = []
    log_files = set()  # a compaction replaces the log file: count the distinct ones seen
    mid_compaction = 0  # kills that left a compaction's temporary file behind
    started = time.monotonic()
    for round_ in range(ROUNDS):
        acknowledged += run_round(path, round_, rng)
        log_files.add((path / "log.jsonl").stat().st_ino)
        mid_compaction += (path / "log.jsonl.tmp").exists()
    elapsed = time.monotonic() - started
    assert len(log_files) > 5, "no compactions happened: kills never hit one"

    with TinyDB(path, storage=AppendStorage, read_only=True) as db:
        stored = {d["proposal_id"] for d in db.table("decisions").all()}
    missing = [pid for pid in acknowledged if pid not in stored]
    assert not missing, f"{len(missing)} acknowledged decisions lost, e.g. {missing[:5]}"
    assert len(acknowledged) > ROUNDS * 5, "the children barely wrote anything: the test proves little"

    with SessionStore.open(path) as store:  # a writer can continue after all that
        assert set(acknowledged) <= set(store.decisions())
        assert store.state()["pad"] == "s" * 2000
    print(f"{ROUNDS} kills, {len(acknowledged)} acknowledged decisions, {len(log_files)} log files, "
          f"{mid_compaction} kills mid-compaction, {elapsed:.1f}s")
