"""Adaptive vs full evaluation, replayed offline from sessions recorded with full evaluation.

    python bench/adaptive.py [--runs 6] [--steps 4] [--keep DIR] [--z 1.0 --first 4 --growth 1.5] [SESSION ...]

Every step of a session recorded with full evaluation holds each candidate's
result on every dev example.  For each step this bench runs the race of
``core.step.adaptive`` over the same candidates, answering its asks from those
recorded results (no model is called), and compares it with what the session
selected: the calls each made, whether the beam is the same set, and whether
the best prompt is the same.  Parents known from earlier steps cost neither
(pool selection); the race's calls include scoring its beam on the whole dev
set, as the loop would.

Without SESSION arguments it records ``--runs`` fresh APO sessions first
(gen:navigate and gen:object_counting in turn, seeds 0, 1, ... (``--first-seed``), beam 5, dev 50,
no test set), headless through ``sessions.service.open_run`` against the fake
endpoint (``tests/support/fake_server.py``, in this process, no latency):
there every prompt has its own hidden accuracy, uniform in [0.2, 0.8].

The last lines are the figures: ``calls ratio``, ``same best``, ``same beam``
(goal: ratio <= 0.35 with the same best prompt in >= 90% of steps) and
``best dev loss max``: when the best differs, how much lower the race's best
scored on the full dev set than full evaluation's (the recording has both).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflectloop.core.step.adaptive import race  # noqa: E402
from reflectloop.core.settings.config import RunConfig, from_dict  # noqa: E402
from reflectloop.core.review import AutoReviewer  # noqa: E402
from reflectloop.core.step.selection import BeamSelection  # noqa: E402
from reflectloop.core.types import Evaluation  # noqa: E402
from reflectloop.sessions.store import SessionStore  # noqa: E402
from tests.support.fake_server import FakeServer  # noqa: E402

TASKS = ("gen:navigate", "gen:object_counting")


@dataclass
class Compared:
    session: str
    step: int
    candidates: int
    calls: int
    full_calls: int
    floor: int  # the calls no race saves: its beam's new candidates on the whole dev set
    same_best: bool
    same_beam: bool
    loss: float  # full dev score of the recorded best minus that of the race's best


def record_sessions(root: Path, runs: int, steps: int, first_seed: int) -> list[Path]:
    from reflectloop.sessions.service import open_run

    paths = []
    with FakeServer(concurrency=16) as server:
        for n in range(first_seed, first_seed + runs):
            task = TASKS[n % len(TASKS)]
            config = RunConfig(
                task=task, method="apo", steps=steps, seed=n, beam=5, dev_size=50, test_size=0, init_prompts=10,
                target="openai:fake", target_base_url=server.openai_url,
                optimizer="openai:fake", optimizer_base_url=server.openai_url, concurrency=16,
            )  # fmt: skip
            path = root / f"{n}-{task.split(':')[1]}.session"
            sys.stderr.write(f"\rrecording {path.name} ({n - first_seed + 1}/{runs}) ...\x1b[K")
            sys.stderr.flush()

            async def drive() -> None:
                run = open_run(config, AutoReviewer(), session=path)
                try:
                    await run.drive()
                finally:
                    await run.close()

            asyncio.run(drive())
            paths.append(path)
    sys.stderr.write("\n")
    return paths


def _pool(step, record, previous_beam, prompts, dev, mode) -> list[str]:
    """The pool the loop selected from, in its order: the parents (pool mode),
    then each parent's children in the previous beam's order."""
    children = [i for i in dev if prompts[i].step == step]
    ordered = [c for parent in previous_beam for c in children if prompts[c].parent_id == parent]
    ordered += [c for c in children if c not in ordered]
    return (list(previous_beam) if mode == "pool" else []) + ordered


def _results(ev: Evaluation) -> dict[str, float]:
    return {r.example_id: r.value for r in ev.scored}


async def compare_session(path: Path, settings: dict) -> tuple[list[Compared], int]:
    """Every selecting step of the session, compared; and how many steps the
    rebuilt full selection did not reproduce (they are left out)."""
    with SessionStore.open(path, read_only=True) as store:
        config = from_dict(store.config)
        if config.evaluation != "full":
            raise SystemExit(f"{path.name} was recorded with {config.evaluation} evaluation: its dropped candidates "
                             "hold partial results only; replay sessions recorded with full evaluation")
        prompts, steps = store.prompts(), store.steps()
        dev: dict[str, Evaluation] = {}
        by_step: dict[int, dict[str, Evaluation]] = {}
        for step, ev in store.evaluations():
            if ev.split == "dev":
                by_step.setdefault(step, {})[ev.prompt_id] = ev
    mode, seed = config.selection_mode, config.seed
    compared, unmatched = [], 0
    for record in steps:
        fresh = by_step.get(record.step, {})
        previous = steps[record.step - 1].beam if record.step else ()
        dev.update(fresh)
        if record.step == 0 or not any(prompts[i].step == record.step for i in fresh):
            continue  # step 0 writes prompts, and a step without children selects nothing
        pool = _pool(record.step, record, previous, prompts, fresh, mode)
        full = BeamSelection(config.beam, mode, seed, True)._outcome(record.step, dev, pool)
        if full.kept != record.beam:
            unmatched += 1
            continue
        # The dev set in its own order, as the loop hands it to the race (``Loop.dev_ids``).
        examples = list(dict.fromkeys(r.example_id for ev in fresh.values() for r in ev.results))
        known = {p: _results(dev[p]) for p in pool if p not in fresh}

        async def score(candidate: str, ids: tuple[str, ...]) -> dict[str, float]:
            got = _results(fresh[candidate])
            return {e: got[e] for e in ids if e in got}

        result = await race(pool, examples, score, config.beam, seed=f"{seed}:select:{record.step}", known=known, **settings)
        floor = sum(len(fresh[c].scored) for c in result.beam if c in fresh)
        compared.append(Compared(path.name, record.step, len(pool), result.calls, result.full_calls, floor,
                                 result.beam[0] == record.beam[0], set(result.beam) == set(record.beam),
                                 dev[record.beam[0]].score - dev[result.beam[0]].score))
    return compared, unmatched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sessions", nargs="*", type=Path, help="sessions recorded with full evaluation")
    parser.add_argument("--runs", type=int, default=6, help="sessions to record when none is given (6)")
    parser.add_argument("--steps", type=int, default=4, help="steps per recorded session, step 0 included (4)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first recorded session (0)")
    parser.add_argument("--keep", type=Path, help="record the sessions into this folder and keep them")
    parser.add_argument("--z", type=float, default=1.0, help="the race's confidence (1.0, its default)")
    parser.add_argument("--first", type=int, default=4, help="examples of the race's first round (4)")
    parser.add_argument("--growth", type=float, default=1.5, help="growth of the examples per round (1.5)")
    args = parser.parse_args()
    settings = {"z": args.z, "first": args.first, "growth": args.growth}

    with tempfile.TemporaryDirectory(prefix="reflectloop-adaptive-") as root:
        os.environ["REFLECTLOOP_HOME"] = str(Path(root) / "home")
        os.environ["REFLECTLOOP_CONFIG"] = str(Path(root) / "no-config.toml")
        paths = args.sessions or record_sessions(args.keep or Path(root), args.runs, args.steps, args.first_seed)
        rows, unmatched = [], 0
        for path in paths:
            found, missed = asyncio.run(compare_session(path, settings))
            rows += found
            unmatched += missed
    if not rows:
        print("no step with candidates to compare")
        return 1
    for r in rows:
        print(f"{r.session:<28} step {r.step}: {r.candidates:>2} candidates, calls {r.calls:>4} of {r.full_calls:>4} "
              f"({r.calls / r.full_calls:.2f}x), best {'same' if r.same_best else f'DIFFERENT (-{r.loss:.2f} dev)'}, "
              f"beam {'same' if r.same_beam else 'different'}")
    if unmatched:
        print(f"{unmatched} step(s) left out: their recorded beam could not be rebuilt from their evaluations")
    calls, full = sum(r.calls for r in rows), sum(r.full_calls for r in rows)
    floor = sum(r.floor for r in rows)
    print(f"{len(rows)} steps of {len(paths)} session(s); adaptive: {calls} calls, full evaluation: {full}; "
          f"race settings {settings}")
    print(f"of the adaptive calls, {floor} ({floor / full:.2f}x of full) score the beam's new candidates "
          "on the whole dev set, which no race can save")
    print(f"calls ratio: {calls / full:.2f}")
    print(f"same best: {100 * sum(r.same_best for r in rows) / len(rows):.0f}%")
    print(f"same beam: {100 * sum(r.same_beam for r in rows) / len(rows):.0f}%")
    print(f"best dev loss max: {max(r.loss for r in rows):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
