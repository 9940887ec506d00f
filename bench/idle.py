"""Idle time: how long does the person wait on the machine during a step?

    python bench/idle.py [--card 2] [--latency 1] [--concurrency 16] [--steps 2]
                         [--beam 5] [--dev 50] [--test 200] [--init 10]
                         [--evaluation full|adaptive] [--no-overlap]

A scripted person reviews every card of an APO run, one card at a time,
spending ``--card`` seconds on each (accepting what the auto-reviewer would),
against the fake endpoint (``tests/support/fake_server.py``, a child process)
at ``--latency`` seconds per answer and ``--concurrency`` answers at once --
by default the study's sizes (beam 5, dev 50, test 200, 10 initial prompts).
Review requests that arrive while the person is busy wait in line, first come
first served, as cards queue in the TUI.

Per step it measures the person's idle time:

* between cards: from a decision to the next card, once the step's first card
  is shown (the goal of issue 13: never longer than one model round trip);
* at the end: from the step's last decision to the step's end (its candidates'
  evaluation, the selection, the best prompt's test).

The last lines are the figures: ``idle max`` and ``idle mean`` (between
cards), ``idle tail max`` and ``idle tail mean`` (after the last decision),
``step max`` (the longest step, wall seconds).  ``--no-overlap`` is the
baseline: the person's decisions reach the loop only with the whole review,
so no accepted candidate starts its evaluation early (the loop before issue
13's overlap).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflectloop.core.settings.config import RunConfig  # noqa: E402
from reflectloop.core.events import Event, StepDone  # noqa: E402
from reflectloop.core.review import AutoReviewer, ReflectRequest, Reviewer, ReviewRequest, ReviewResult  # noqa: E402
from reflectloop.core.types import Decision  # noqa: E402
from tests.support.fake_server import spawn_fake_server  # noqa: E402


@dataclass
class StepTimes:
    started: float
    first_card: float | None = None
    last_decision: float | None = None
    ended: float | None = None
    gaps: list[float] = field(default_factory=list)  # idle between cards
    cards: int = 0


class ScriptedPerson(Reviewer):
    """One person: a card at a time, ``seconds`` each; waiting requests queue (FIFO)."""

    def __init__(self, seconds: float, overlap: bool = True) -> None:
        self.seconds = seconds
        self.overlap = overlap
        self.auto = AutoReviewer()
        self.steps: dict[int, StepTimes] = {}
        self._desk = asyncio.Lock()  # asyncio wakes its waiters in arrival order

    def times(self, step: int) -> StepTimes:
        return self.steps.setdefault(step, StepTimes(time.monotonic()))

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]:
        return ()

    async def review(self, request: ReviewRequest) -> ReviewResult:
        async with self._desk:
            t = self.times(request.step)
            now = time.monotonic()
            if t.first_card is None:
                t.first_card = now
            elif t.last_decision is not None:
                t.gaps.append(max(0.0, now - t.last_decision))
            decisions = {}
            for p in request.proposals:
                await asyncio.sleep(self.seconds)
                d = Decision(p.id, "accept" if self.auto.accepts(p) else "reject", by="script")
                if self.overlap:
                    request.record(d)  # card by card, as a person decides: accepted candidates start at once
                decisions[p.id] = d
                t.cards += 1
                t.last_decision = time.monotonic()
            return ReviewResult(decisions)

    def __call__(self, event: Event) -> None:
        """The run's listener: a step ends at its record."""
        if isinstance(event, StepDone):
            times = self.times(event.record.step)
            times.ended = time.monotonic()
            self.times(event.record.step + 1)  # the next step starts now


async def drive(config: RunConfig, person: ScriptedPerson, session: Path) -> None:
    from reflectloop.sessions.service import open_run

    run = open_run(config, person, session=session, listeners=(person,))
    person.steps[0] = StepTimes(time.monotonic())  # the person's clock starts with the first step, not the set-up
    try:
        while not run.done:
            record = await run.step()
            t = person.steps[record.step]
            sys.stderr.write(f"step {record.step}: {t.cards} cards, {t.ended - t.started:.1f} s\n")
    finally:
        await run.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--card", type=float, default=2.0, help="seconds the person spends per card (2)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per answer (1)")
    parser.add_argument("--concurrency", type=int, default=16, help="answers at once, endpoint and reflectloop (16)")
    parser.add_argument("--steps", type=int, default=2, help="steps, step 0 included (2)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--dev", type=int, default=50)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--init", type=int, default=10)
    parser.add_argument("--evaluation", choices=("full", "adaptive"), default="full")
    parser.add_argument("--no-overlap", action="store_true",
                        help="the baseline: decisions reach the loop only with the whole review, so no candidate "
                             "starts its evaluation before its review ends")
    args = parser.parse_args()

    person = ScriptedPerson(args.card, overlap=not args.no_overlap)
    with tempfile.TemporaryDirectory(prefix="reflectloop-idle-") as root:
        os.environ["REFLECTLOOP_HOME"] = str(Path(root) / "home")
        os.environ["REFLECTLOOP_CONFIG"] = str(Path(root) / "no-config.toml")
        with spawn_fake_server(latency=args.latency, concurrency=args.concurrency, idle_timeout=120) as server:
            url = server.openai_url
            config = RunConfig(
                task="gen:navigate", method="apo", steps=args.steps, seed=0, beam=args.beam, dev_size=args.dev,
                test_size=args.test, init_prompts=args.init, concurrency=args.concurrency, evaluation=args.evaluation,
                target="openai:fake", target_base_url=url, optimizer="openai:fake", optimizer_base_url=url,
            )  # fmt: skip
            print(f"APO, gen:navigate, beam {args.beam}, dev {args.dev}, test {args.test}, {args.init} initial "
                  f"prompts; {args.card:g} s per card; endpoint {args.latency:g} s per answer, "
                  f"{args.concurrency} at once; {args.evaluation} evaluation, "
                  f"{'no overlap' if args.no_overlap else 'overlap'}")
            asyncio.run(drive(config, person, Path(root) / "idle.session"))

    gaps, tails, walls = [], [], []
    for step in sorted(s for s, t in person.steps.items() if t.ended is not None):
        t = person.steps[step]
        first = t.first_card - t.started if t.first_card is not None else None
        tail = t.ended - t.last_decision if t.last_decision is not None else t.ended - t.started
        gaps += t.gaps
        tails.append(tail)
        walls.append(t.ended - t.started)
        print(f"step {step}: {t.cards} cards; first card after {first:.1f} s; between cards: "
              f"max {max(t.gaps, default=0):.1f} s, total {sum(t.gaps):.1f} s; after the last decision "
              f"{tail:.1f} s; step {t.ended - t.started:.1f} s")
    print(f"idle max: {max(gaps, default=0):.1f} s")
    print(f"idle mean: {statistics.mean(gaps) if gaps else 0:.1f} s")
    print(f"idle tail max: {max(tails):.1f} s")
    print(f"idle tail mean: {statistics.mean(tails):.1f} s")
    print(f"step max: {max(walls):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
