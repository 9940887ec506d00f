"""Throughput: does one optimization step keep an endpoint at its limit?

    python bench/throughput.py [--latency 0.1] [--concurrency 16] [--beam 4] [--dev 50] [--repeat 3]

One APO step (step 1 of three: after step 0 wrote and scored the initial
prompts, before step 2) runs headless (the auto-reviewer, as ``reflectloop run``) against the fake
endpoint (``tests/support/fake_server.py``, in a child process) with ``openai:fake``
for both roles, at ``--latency`` seconds per answer and a limit of
``--concurrency`` requests served at once -- the same number reflectloop is
given as ``--concurrency``.  It is the same as

    reflectloop run --task gen:navigate --method apo --steps 3 --beam 4 --dev-size 50 \\
        --target openai:fake --target-base-url URL/v1 \\
        --optimizer openai:fake --optimizer-base-url URL/v1 --concurrency 16

The ideal wall time of a step is ``calls x latency / concurrency``: the
endpoint busy every moment.  The ratio of the measured time to it is the
figure (goal <= 1.10); ``--repeat`` fresh runs (each with an empty cache)
give its median, since a busy machine makes single runs noisy.  Each line
also shows the endpoint's own time per answer and how busy its slots were.
Then the last run is repeated as a new session on its response cache: the
endpoint must see no call at all.

A step followed by another is the study's usual one (nine of its ten).
The auto-reviewer decides by the proposals alone, so while a step's test
evaluation runs, the next step's reflections and then the refinements from
the feedback it will keep are asked (``core.step.readahead``): step 1's were
asked during step 0's, and step 1 asks step 2's during its own.  A step
then opens with its candidates' evaluations, and the slots the test leaves
idle are filled.  (With a person reviewing, only the reflections are asked
ahead; the refinement waits for their decisions.)  Step 2, the last, reads
nothing ahead; its ratio is shown too (``last step ratio``).

No client reaches 1.00: the step's last round of test calls is part full,
and the endpoint answers in waves that even a bare client cannot refill at
once.  The baseline measured in the same run, ``bare
client ratio``, is the same number of calls sent by aiohttp alone with
nothing between them.

Everything lives in a temporary REFLECTLOOP_HOME, removed at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fake_server import spawn_fake_server  # noqa: E402
from reflectloop.core.settings.config import RunConfig  # noqa: E402
from reflectloop.core.events import Event, Note, PhaseStarted, Progress, StepDone  # noqa: E402
from reflectloop.core.review import AutoReviewer  # noqa: E402


class ProgressLine:
    """One line on stderr, rewritten in place: step, phase, results, calls."""

    def __init__(self, server, label: str) -> None:
        self.server = server
        self.label = label
        self.phase = ""
        self.results = 0
        self.notes: list[str] = []
        self._drawn = 0.0

    def __call__(self, event: Event) -> None:
        match event:
            case PhaseStarted(step=step, phase=phase):
                self.phase = f"step {step} {phase}"
                self._draw()
            case Progress():
                self.results += 1
                self._draw()
            case Note(step=step, text=text):
                self.notes.append(f"step {step}: {text}")
            case StepDone(record=record):
                self._draw(force=True)
                sys.stderr.write(f"  -> dev best {record.dev_best:.3f}, {record.calls} calls\n")
                sys.stderr.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.2:
            return
        self._drawn = now
        sys.stderr.write(f"\r{self.label:<8} {self.phase:<22} {self.results:>5} results scored\x1b[K")
        sys.stderr.flush()


def counts(server) -> dict:
    """The endpoint's counts and peaks, asked for without its log: a full log
    of thousands costs the endpoint (a Python process on the same two cores)
    enough to delay the step's first calls."""
    return server.stats(since=1 << 62)


def served(server, first: int) -> tuple[float, float]:
    """The endpoint's own mean latency (slot taken to reply) over the requests
    from index ``first`` on, and the seconds its slots were busy in total."""
    log = server.stats(since=first)["log"]
    busy = [s["replied"] - s["started"] for s in log if s["replied"] is not None]
    return (sum(busy) / len(busy) if busy else 0.0), sum(busy)


async def bare_client(url: str, calls: int, concurrency: int) -> float:
    """Wall seconds for ``calls`` evaluation-shaped requests sent by aiohttp
    alone, ``concurrency`` at a time, with nothing done between them: what
    any client can get from this endpoint (its own parsing and the answers
    arriving in waves cost a little), the baseline of the same run."""
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    question = "Input:\nIf you follow these instructions, do you return to the starting point? Take 2 steps."

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        body = {"model": "fake", "messages": [{"role": "user", "content": f"Answer it.\n\n{question}"}],
                "max_tokens": 64, "temperature": 0.0, "seed": i}
        async with limit, session.post(f"{url}/chat/completions", json=body) as response:
            await response.json()

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session, i) for i in range(calls)))
        return time.perf_counter() - started


async def run_steps(config: RunConfig, session: Path, server, label: str) -> list[tuple[int, float, int, float, float]]:
    """(step, wall seconds, endpoint requests, endpoint latency, busy seconds)
    for each step of a new session."""
    from reflectloop.sessions.service import open_run

    progress = ProgressLine(server, label)
    run = open_run(config, AutoReviewer(), session=session, listeners=(progress,))
    timings = []
    try:
        while not run.done:
            before = counts(server)["requests"]
            started = time.perf_counter()
            record = await run.step()
            wall = time.perf_counter() - started
            latency, busy = served(server, before)
            timings.append((record.step, wall, counts(server)["requests"] - before, latency, busy))
    finally:
        await run.close()
    for note in progress.notes:
        print(f"  note: {note}")
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer (default 0.1)")
    parser.add_argument("--concurrency", type=int, default=16, help="the endpoint's limit and reflectloop's (16)")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--dev", type=int, default=50, help="dev examples (50)")
    parser.add_argument("--test", type=int, default=200, help="test examples (200, the default)")
    parser.add_argument("--init", type=int, default=10, help="initial prompts of step 0 (10, the default)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fresh runs (each with an empty cache); the median ratio is the figure (3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reflectloop-bench-") as root:
        os.environ["REFLECTLOOP_CONFIG"] = str(Path(root) / "no-config.toml")
        with spawn_fake_server(latency=args.latency, concurrency=args.concurrency, idle_timeout=120) as server:
            url = server.openai_url
            config = RunConfig(
                task="gen:navigate", method="apo", steps=3, seed=0,
                beam=args.beam, dev_size=args.dev, test_size=args.test, init_prompts=args.init,
                target="openai:fake", target_base_url=url, optimizer="openai:fake", optimizer_base_url=url,
                concurrency=args.concurrency,
            )  # fmt: skip
            print(f"fake endpoint {url}: {args.latency * 1000:g} ms per answer, "
                  f"at most {args.concurrency} at once; reflectloop --concurrency {args.concurrency}")
            print(f"APO, gen:navigate, beam {args.beam}, dev {args.dev}, test {args.test}, "
                  f"{args.init} initial prompts; {args.repeat} fresh run(s), each with an empty cache")

            ratios, last = [], []
            for run in range(1, args.repeat + 1):
                home = Path(root) / f"run{run}"
                os.environ["REFLECTLOOP_HOME"] = str(home)  # a fresh response cache
                server_peaks_from = counts(server)["max_active"]
                fresh = asyncio.run(run_steps(config, home / "fresh.session", server, f"run {run}"))
                for step, wall, calls, latency, busy in fresh:
                    ideal = calls * args.latency / args.concurrency
                    ratio = wall / ideal if ideal else float("inf")
                    if step == 1:
                        ratios.append(ratio)
                    elif step == 2:
                        last.append(ratio)
                    names = {0: "step 0 (initial prompts)", 1: "step 1 (the APO step)"}
                    what = names.get(step, f"step {step} (the last)")
                    print(f"run {run}  {what:<26} {calls:>4} calls  wall {wall:5.2f} s  ideal {ideal:5.2f} s  "
                          f"ratio {ratio:.2f}  [endpoint {latency * 1000:.0f} ms/answer, "
                          f"slots busy {busy / (wall * args.concurrency):.0%}]")
            max_active = max(counts(server)["max_active"], server_peaks_from)
            print(f"endpoint: at most {max_active} requests served at once (its limit: {args.concurrency})")

            # The last run again, as a new session on the same cache.
            again = asyncio.run(run_steps(config, home / "again.session", server, "cached"))
            for step, wall, calls, _, _ in again:
                print(f"re-run from the cache, step {step}: {calls} calls, wall {wall:.2f} s")
            cached_calls = sum(calls for _, _, calls, _, _ in again)

            step_calls = fresh[1][2]
            bare = [asyncio.run(bare_client(url, step_calls, args.concurrency)) for _ in range(args.repeat)]
            bare_wall = statistics.median(bare)
            bare_ratio = bare_wall / (step_calls * args.latency / args.concurrency)
            print(f"bare client, {step_calls} calls with nothing between them: median wall {bare_wall:.2f} s")

    median = statistics.median(ratios)
    verdict = "ok" if median <= 1.10 and cached_calls == 0 else "MISSED"
    print(f"APO step: median of {', '.join(f'{r:.2f}' for r in ratios)}; goal <= 1.10, re-run 0 calls: {verdict}")
    print(f"ratio to ideal: {median:.2f}")
    print(f"last step ratio: {statistics.median(last):.2f}")
    print(f"bare client ratio: {bare_ratio:.3f}")
    print(f"re-run calls: {cached_calls}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
