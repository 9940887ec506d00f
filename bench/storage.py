"""Storage scaling: does a write cost the same at the end of a long session as at its start?

    python bench/storage.py [--calls 10000] [--decisions 1000] [--stock-scale 0.25]

Records 10,000 LLM calls (a ~600-character prompt, a ~200-character answer)
and 1,000 decisions, interleaved as a run would (a decision after every ten
calls), then reopens the session.  Three ways, same records, same run:

* ``SessionStore``      -- what reflectloop uses: AppendStorage + AppendTable,
                           calls buffered in batches of 200, each decision fsynced.
* ``AppendDB``          -- the storage alone: AppendDB's tables on AppendStorage,
                           every record its own fsynced line (no batching), the
                           time inside ``AppendStorage.append`` shown as "in
                           append()".  (A stock TinyDB ``Table`` hands the
                           storage the complete data on every insert, which
                           AppendStorage writes as a new snapshot of the log:
                           that is why AppendDB replaces TinyDB's inserts.)
* ``TinyDB+JSON``       -- TinyDB's stock JSONStorage doing what SessionStore
                           does (same batching, same decisions).  It rewrites the
                           whole file on every write, so it is slow: by default
                           it runs on a quarter of the records (``--stock-scale
                           0.25``; ``1`` runs it fully, ~3-4 minutes here).  The
                           first thousand writes are measured; for the rest, a
                           least-squares line t(i) = a + b*i through the
                           measured per-write times (the write at index i holds
                           the same data at any scale) gives the last thousand
                           at full size and, summed, the total.

Then a 100,000-call session (``--reopen-calls``; a decision after every
hundred calls) is reopened: read-only, as ``reflectloop sessions``, ``audit``
and ``export`` open it, and as a writer, as a resumed run does.  The baseline,
taking turns with it in the same run, is the least any reader of the file
pays: reading the same bytes and ``json.loads``-ing them line by line.  It
prints ``reopen 100k calls: X s`` on a line of its own, and the ratios.

"Time per write" is the wall time of one API call (``add_call`` usually only
buffers; every 200th also writes the batch), averaged over the first and the
last thousand writes; medians and CPU time are shown too, because fsync
stalls caused by other programs on the same disk land at random in the means.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinydb import TinyDB  # noqa: E402
from tinydb.storages import JSONStorage  # noqa: E402

from reflectloop.core.types import CallRecord, Decision, Message, Params, Usage  # noqa: E402
from reflectloop.sessions import AppendStorage, SessionStore, codec  # noqa: E402
from reflectloop.sessions.storage import LOG_NAME  # noqa: E402
from reflectloop.sessions.store import CALL_BATCH  # noqa: E402
from reflectloop.sessions.table import AppendDB  # noqa: E402

WORDS = ("the object count navigate step left right forward answer apple violin car "
         "three two carrot piano think carefully list each item then sum").split()


def text(rng: random.Random, chars: int) -> str:
    out = []
    while sum(map(len, out)) + len(out) < chars:
        out.append(rng.choice(WORDS))
    return " ".join(out)[:chars]


def make_call(rng: random.Random, i: int) -> CallRecord:
    return CallRecord(
        model="openai:gpt-4o-mini", role="target", purpose="evaluate",
        messages=(Message("system", text(rng, 100)), Message("user", text(rng, 500))),
        params=Params(temperature=0.0, max_tokens=256), text=text(rng, 200),
        usage=Usage(150, 50), latency=0.8, cached=False, attempt=1, cost=0.0001, at=1.7e9 + i,
    )


def make_decision(rng: random.Random, i: int) -> Decision:
    return Decision(f"s{i // 50}-p{i % 5}-feedback-{i}", rng.choice(["accept", "edit", "reject"]),
                    text=text(rng, 80), by="human", at=1.7e9 + i)


def workload(n_calls: int, n_decisions: int, seed: int = 1) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    every = max(1, n_calls // max(1, n_decisions))
    ops, d = [], 0
    for i in range(n_calls):
        ops.append(("call", make_call(rng, i)))
        if (i + 1) % every == 0 and d < n_decisions:
            ops.append(("decision", make_decision(rng, d)))
            d += 1
    return ops


class Progress:
    def __init__(self, label: str, total: int, every: int = 1000) -> None:
        self.label, self.total, self.every, self.start = label, total, every, time.perf_counter()

    def tick(self, done: int) -> None:
        if done % self.every == 0 or done == self.total:
            elapsed = time.perf_counter() - self.start
            print(f"  {self.label:<14} {done:>6}/{self.total} writes  {elapsed:6.1f} s", flush=True)


# ------------------------------------------------------------------ variants
def run_store(path: Path, ops) -> dict:
    times, kinds, cpu = [], [], []
    progress = Progress("SessionStore", len(ops))
    store = SessionStore.create(path, {"task": "gen:navigate", "method": "apo"})
    for n, (kind, record) in enumerate(ops, 1):
        t, c = time.perf_counter(), time.process_time()
        store.add_call(record) if kind == "call" else store.add_decision(record)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        kinds.append(kind)
        progress.tick(n)
    t = time.perf_counter()
    store.close()
    close = time.perf_counter() - t
    t = time.perf_counter()
    with SessionStore.open(path, read_only=True) as store:
        opened = time.perf_counter() - t
        n_calls, n_dec = len(store.calls()), len(store.decisions())
        read_all = time.perf_counter() - t
    return dict(times=times, kinds=kinds, cpu=cpu, close=close, open=opened, read=read_all,
                check=(n_calls, n_dec), size=_size(path))


def run_plain_append(path: Path, ops) -> dict:
    times, kinds, cpu = [], [], []
    progress = Progress("AppendDB", len(ops))
    db = AppendDB(path)
    in_append = _time_appends(db.storage)
    calls, decisions = db.table("calls"), db.table("decisions")
    for n, (kind, record) in enumerate(ops, 1):
        t, c = time.perf_counter(), time.process_time()
        (calls if kind == "call" else decisions).insert(codec.encode(record))
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        kinds.append(kind)
        progress.tick(n)
    db.close()
    t = time.perf_counter()
    with TinyDB(path, storage=AppendStorage, read_only=True) as db:
        check = (len(db.table("calls").all()), len(db.table("decisions").all()))
    return dict(times=times, kinds=kinds, cpu=cpu, append_times=in_append, open=time.perf_counter() - t,
                check=check, size=_size(path))


def run_stock(path: Path, ops) -> dict:
    """JSONStorage with SessionStore's batching: calls every 200 and before each decision."""
    times, kinds = [], []
    progress = Progress("TinyDB+JSON", len(ops))
    db = TinyDB(path, storage=JSONStorage)
    calls, decisions = db.table("calls"), db.table("decisions")
    pending: list[dict] = []
    for n, (kind, record) in enumerate(ops, 1):
        t = time.perf_counter()
        if kind == "call":
            pending.append(codec.encode(record))
            if len(pending) >= CALL_BATCH:
                calls.insert_multiple(pending)
                pending = []
        else:
            if pending:
                calls.insert_multiple(pending)
                pending = []
            decisions.insert(codec.encode(record))
        times.append(time.perf_counter() - t)
        kinds.append(kind)
        progress.tick(n)
    if pending:
        calls.insert_multiple(pending)
    db.close()
    t = time.perf_counter()
    with TinyDB(path, storage=JSONStorage, access_mode="r") as db:
        check = (len(db.table("calls").all()), len(db.table("decisions").all()))
    return dict(times=times, kinds=kinds, open=time.perf_counter() - t, check=check, size=_size(path))


def run_reopen(path: Path, n_calls: int, rounds: int = 3) -> dict:
    """Build an ``n_calls`` session, then time its reopening against reading it with json (best of ``rounds``)."""
    rng = random.Random(2)
    distinct = [make_call(rng, i) for i in range(min(n_calls, 1000))]  # building 100k texts would dominate
    progress = Progress("reopen session", n_calls, every=10_000)
    with SessionStore.create(path, {"task": "gen:navigate", "method": "apo"}) as store:
        for i in range(n_calls):
            store.add_call(dataclasses.replace(distinct[i % len(distinct)], at=1.7e9 + i))
            if (i + 1) % 100 == 0:
                store.add_decision(make_decision(rng, i // 100))
            progress.tick(i + 1)
    baseline, reader, writer = [], [], []
    for round_ in range(rounds):  # taking turns, so load from other programs hits all three alike
        t = time.perf_counter()
        with open(path / LOG_NAME, "rb") as f:
            lines = len([json.loads(line) for line in f])
        baseline.append(time.perf_counter() - t)
        for times, read_only in ((reader, True), (writer, False)):
            t = time.perf_counter()
            store = SessionStore.open(path, read_only=read_only)
            times.append(time.perf_counter() - t)
            # Decoding 100k calls takes longer than the open: check them once.
            check = (len(store.calls()) if read_only and not round_ else n_calls, len(store.decisions()))
            store.close()
            assert check == (n_calls, n_calls // 100), f"reopened session holds {check}"
    return dict(baseline=min(baseline), reader=min(reader), writer=min(writer), lines=lines,
                size=_size(path), calls=n_calls)


def report_reopen(r: dict) -> None:
    n = r["calls"]
    label = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    print(f"\nreopen {label} calls: {r['reader']:.2f} s")
    print(f"  read-only open of {r['size'] / 1e6:.0f} MB ({r['lines']} lines), best of 3; the same bytes read and "
          f"json.loads-ed line by line: {r['baseline']:.2f} s; ratio {r['reader'] / r['baseline']:.2f}")
    print(f"  as a writer (a resumed run: takes the lock, then replays): {r['writer']:.2f} s; "
          f"ratio {r['writer'] / r['baseline']:.2f}")


def _time_appends(storage: AppendStorage) -> list[float]:
    """Record the time spent inside AppendStorage.append (encode + append + fsync)."""
    spent: list[float] = []
    append = storage.append

    def timed(tables):
        t = time.perf_counter()
        append(tables)
        spent.append(time.perf_counter() - t)

    storage.append = timed
    return spent


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir())


# ------------------------------------------------------------------ report
def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f} ms"


def first_last(values: list[float], k: int) -> tuple[float, float]:
    k = min(k, len(values) // 2) or 1
    return statistics.fmean(values[:k]), statistics.fmean(values[-k:])


class Extrapolation:
    """Per-write time as a line in the write index, fitted on a run at reduced scale."""

    def __init__(self, times: list[float], full_n: int) -> None:
        self.b, self.a = statistics.linear_regression(range(len(times)), times)
        self.full_n = full_n

    def mean(self, start: int, stop: int) -> float:
        return self.a + self.b * (start + stop - 1) / 2

    def total(self) -> float:
        return self.mean(0, self.full_n) * self.full_n


def report(label: str, r: dict, full_n: int) -> float:
    """Print one variant; returns its total write time at full scale."""
    times, kinds = r["times"], r["kinds"]
    dec = [t for t, k in zip(times, kinds) if k == "decision"]
    first, last = first_last(times, 1000)
    dfirst, dlast = first_last(dec, 100)
    total, note = sum(times), ""
    if len(times) < full_n:  # reduced scale: extrapolate
        fit = Extrapolation(times, full_n)
        dec_fit = Extrapolation(dec, round(len(dec) * full_n / len(times)))
        last, dlast = fit.mean(full_n - 1000, full_n), dec_fit.mean(dec_fit.full_n - 100, dec_fit.full_n)
        total = fit.total()
        note = f"  [ran {len(times)} writes; last and total extrapolated, t(i) = {fit.a * 1e3:.3f} + {fit.b * 1e6:.3f}e-3*i ms]"
    print(f"\n{label}{note}")
    print(f"  total write time {total:8.2f} s for {full_n} writes")
    print(f"  per write        first 1000: {ms(first)}   last 1000: {ms(last)}   ratio {last / first:.2f}")
    if len(times) == full_n:  # medians shrug off fsync stalls caused by other programs on the disk
        mfirst, mlast = statistics.median(times[:1000]), statistics.median(times[-1000:])
        print(f"    (medians)      first 1000: {ms(mfirst)}   last 1000: {ms(mlast)}   ratio {mlast / mfirst:.2f}")
    if "cpu" in r:  # CPU time leaves out waiting for the disk: what grows with the session, if anything
        cfirst, clast = first_last(r["cpu"], 1000)
        print(f"    (CPU time)     first 1000: {ms(cfirst)}   last 1000: {ms(clast)}   ratio {clast / cfirst:.2f}")
    print(f"  per decision     first 100:  {ms(dfirst)}   last 100:  {ms(dlast)}   ratio {dlast / dfirst:.2f}")
    if "append_times" in r:
        wfirst, wlast = first_last(r["append_times"], 1000)
        print(f"  in append()      first 1000: {ms(wfirst)}   last 1000: {ms(wlast)}   ratio {wlast / wfirst:.2f}")
    print(f"  on disk          {r['size'] / 1e6:.1f} MB;  reopen {r['open'] * 1000:.0f} ms"
          + (f";  reopen + calls() + decisions() {r['read'] * 1000:.0f} ms" if "read" in r else "")
          + (f";  close (flush) {r['close'] * 1000:.1f} ms" if "close" in r else ""))
    print(f"  read back        {r['check'][0]} calls, {r['check'][1]} decisions")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=1_000)
    parser.add_argument("--stock-scale", type=float, default=0.25,
                        help="run the stock JSONStorage on this fraction of the records")
    parser.add_argument("--reopen-calls", type=int, default=100_000,
                        help="calls in the session whose reopening is timed (0: skip)")
    parser.add_argument("--dir", help="where to write (default: a temporary folder)")
    args = parser.parse_args()

    base = Path(args.dir or tempfile.mkdtemp(prefix="reflectloop-bench-"))
    ops = workload(args.calls, args.decisions)
    stock_ops = workload(int(args.calls * args.stock_scale), int(args.decisions * args.stock_scale))
    print(f"{args.calls} calls + {args.decisions} decisions = {len(ops)} writes, in {base}")
    try:
        results = {
            "SessionStore": run_store(base / "store.session", ops),
            "AppendDB": run_plain_append(base / "plain.session", ops),
            "TinyDB+JSON": run_stock(base / "stock.json", stock_ops),
        }
        reopened = run_reopen(base / "reopen.session", args.reopen_calls) if args.reopen_calls else None
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    totals = {label: report(label, r, len(ops)) for label, r in results.items()}
    ours, stock = totals["SessionStore"], totals["TinyDB+JSON"]
    print(f"\nSame work, total write time: SessionStore {ours:.2f} s vs stock JSONStorage {stock:.1f} s"
          f"{' (extrapolated)' if args.stock_scale < 1 else ''}: {stock / ours:.0f}x")
    if reopened:
        report_reopen(reopened)
    print(f"(pid {os.getpid()}, python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
