"""GEPA against its peers: reflectloop's ``--method gepa``, the reference
``gepa.optimize`` (0.1.4) and, when installed, ``dspy.GEPA``, on one task and
one endpoint, sequential and with a parallel proposal strategy.

    python bench/peers.py [--runs 3] [--parallel independent:4] [--selection all]
                          [--latency 0.1] [--slots 16] [--dev 50] [--iterations 10] [--minibatch 3]

The endpoint is the fake one (``tests/support/fake_server.py``, in a child
process): ``--latency`` seconds per answer, ``--slots`` answers served at
once; each system is given as many (reflectloop ``--concurrency``, the
package's and dspy's threads).  The task is paper:navigate (``--data-dir``,
default ../shared/data/paper), dev ``--dev`` examples as both train and val
set, one seed prompt, ``--iterations`` iterations (rounds of proposals) with
minibatches of ``--minibatch``.  Each run starts afresh (reflectloop with an
empty response cache); the systems take turns, run after run, and each
figure is the median over ``--runs``.

Per system and strategy:

* ``wall`` -- seconds from the call that starts the optimization to its
  return; ``per metric call`` -- that over the metric calls the run counted
  (as the package counts them: every example a candidate is scored on,
  parents' minibatches included);
* ``calls`` -- requests the endpoint served;
* ``span / ideal`` -- the endpoint's span (first request in to last answer
  out) over ``calls x latency / slots``, the endpoint busy every moment;
* ``span / bound`` -- the span over what the run's own order of calls
  allows: the same requests replayed on the same endpoint with the same
  slots, each taking the time the endpoint took to serve it (from getting a
  slot to its reply going out), each waiting only on the answers that had
  come back before it was sent (and for a slot).  Over 1: time spent between
  the calls, by the system or the machine;
* ``span / nominal bound`` -- the same with every call taking exactly
  ``--latency``: it also counts, as if between the calls, the time the fake
  endpoint (a Python process on the same machine) took beyond its latency.

Ends with ``parallel speedup`` (reflectloop's sequential wall per metric
call over its parallel one) and ``vs gepa`` (reflectloop's parallel wall per
metric call over the package's, same strategy and slots).  Not a test:
nothing here asserts.  dspy is no dependency of reflectloop; to include it,
install it beside the package (``pip install dspy``); its rows are then printed.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peer_runs import PEERS, Setup  # noqa: E402
from tests.support.fake_server import spawn_fake_server  # noqa: E402


@dataclass(frozen=True)
class Measure:
    wall: float
    metric_calls: int
    calls: int
    span: float
    bound: float
    nominal_bound: float


def bound(log: list[dict], latency: float | None, slots: int) -> float:
    """The span the calls of ``log`` would take with no time between them, in
    the run's own order: each waits on every answer that was back before it
    was sent, then for a free slot, and takes what the endpoint took to serve
    it (``latency``: exactly that, instead)."""
    calls = sorted(log, key=lambda s: s["arrived"])
    back = sorted(range(len(calls)), key=lambda k: calls[k]["replied"])
    done = [0.0] * len(calls)
    free = [0.0] * slots  # when each slot is next free (a heap)
    ready, seen = 0.0, 0
    for k, call in enumerate(calls):
        while seen < len(back) and calls[back[seen]]["replied"] <= call["arrived"]:
            ready = max(ready, done[back[seen]])
            seen += 1
        start = max(ready, heapq.heappop(free))
        done[k] = start + (call["replied"] - call["started"] if latency is None else latency)
        heapq.heappush(free, done[k])
    return max(done, default=0.0)


def measure(server, run, latency: float, slots: int) -> Measure:
    first = server.stats(since=1 << 62)["requests"]
    ran = run()
    log = [s for s in server.stats(since=first)["log"] if s["replied"] is not None]
    span = max(s["replied"] for s in log) - min(s["arrived"] for s in log) if log else 0.0
    return Measure(ran.wall, ran.metric_calls, len(log), span, bound(log, None, slots), bound(log, latency, slots))


def report(label: str, runs: list[Measure], latency: float, slots: int) -> dict[str, float]:
    med = {
        "wall s": statistics.median(m.wall for m in runs),
        "metric calls": statistics.median(m.metric_calls for m in runs),
        "calls": statistics.median(m.calls for m in runs),
        "per metric call ms": statistics.median(1000 * m.wall / m.metric_calls for m in runs),
        "span / ideal": statistics.median(m.span / (m.calls * latency / slots) for m in runs),
        "span / bound": statistics.median(m.span / m.bound for m in runs),
        "span / nominal bound": statistics.median(m.span / m.nominal_bound for m in runs),
    }
    for name, value in med.items():
        print(f"{label} {name}: {value:.3f}" if isinstance(value, float) and not value.is_integer()
              else f"{label} {name}: {value:g}")
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per system and strategy; medians (3)")
    parser.add_argument("--parallel", default="independent:4", help="the parallel sampling (independent:4)")
    parser.add_argument("--selection", default="all", help="the parallel rounds' selection (all)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer (0.1)")
    parser.add_argument("--slots", type=int, default=16, help="answers served at once, and each system's (16)")
    parser.add_argument("--dev", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--minibatch", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "paper"))
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    peers = {name: peer for name, peer in PEERS.items() if peer.available()}
    for name, peer in PEERS.items():
        if name not in peers:
            print(f"{name}: not installed, left out ({peer.install})")
    strategies = ("single", args.parallel)
    results: dict[tuple[str, str], list[Measure]] = {}
    with tempfile.TemporaryDirectory(prefix="reflectloop-peers-") as root:
        os.environ["REFLECTLOOP_CONFIG"] = str(Path(root) / "no-config.toml")
        with spawn_fake_server(latency=args.latency, concurrency=args.slots, idle_timeout=300) as server:
            print(f"fake endpoint: {args.latency * 1000:g} ms per answer, {args.slots} served at once; paper:navigate, "
                  f"dev {args.dev}, one seed prompt, {args.iterations} iterations, minibatch {args.minibatch}; "
                  f"{args.runs} run(s) each, the systems taking turns")
            for k in range(args.runs):
                for strategy in strategies:
                    for name, peer in peers.items():
                        setup = Setup(server.openai_url, Path(root) / f"{name}-{k}-{strategy.replace(':', '-')}",
                                      args.data_dir, args.dev, args.iterations, args.minibatch, args.slots,
                                      strategy, args.selection if strategy != "single" else "all", args.seed)
                        got = measure(server, lambda: peer.run(setup), args.latency, args.slots)
                        results.setdefault((name, strategy), []).append(got)
                        print(f"  run {k + 1} {name} {strategy}: wall {got.wall:.2f} s, {got.calls} calls, "
                              f"{got.metric_calls} metric calls", file=sys.stderr)
    figures = {key: report(f"{key[0]} {key[1]}", runs, args.latency, args.slots) for key, runs in results.items()}
    ours_seq, ours_par = figures[("reflectloop", "single")], figures[("reflectloop", args.parallel)]
    print(f"parallel speedup: {ours_seq['per metric call ms'] / ours_par['per metric call ms']:.2f}")
    if ("gepa", args.parallel) in figures:
        print(f"vs gepa: {ours_par['per metric call ms'] / figures[('gepa', args.parallel)]['per metric call ms']:.2f}")
    print(json.dumps({f"{a} {b}": v for (a, b), v in figures.items()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
