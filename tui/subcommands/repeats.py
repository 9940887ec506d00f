"""Repeated runs: the same settings with K seeds, so the noise of a score
curve is visible (mean and spread per step).

``await repeat_runs(values, k)`` runs headless (the auto-reviewer) with seeds
``seed, seed+1, …, seed+k-1``, one session each in one folder
(``seed-<n>.session``; an existing one is continued), and writes there
``repeats.csv`` (one row per seed and step) and ``repeats_summary.csv`` (per
step: runs, mean, standard deviation, min and max of the dev best and of its
test score).  ``reflectloop run --repeats K [run's flags]`` calls it.
"""
from __future__ import annotations

import csv
import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reflectloop.core.types import StepRecord

FIELDS = ("dev_best", "test")


@dataclass
class StepSpread:
    step: int
    n: int
    mean: dict[str, float | None]
    std: dict[str, float | None]
    min: dict[str, float | None]
    max: dict[str, float | None]

    def to_dict(self) -> dict:
        return {"step": self.step, "runs": self.n, "mean": self.mean, "std": self.std, "min": self.min, "max": self.max}


@dataclass
class RepeatResult:
    folder: Path
    seeds: list[int]
    sessions: list[Path]
    rows: list[dict] = field(default_factory=list)  # seed, step, dev_best, test
    summary: list[StepSpread] = field(default_factory=list)
    stopped: str | None = None  # why the repeats stopped early (budget, evaluations errored)
    stopped_kind: str | None = None  # as Drive.kind: "budget" or "errored"

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "seeds": self.seeds, "sessions": [str(s) for s in self.sessions],
                "rows": self.rows, "summary": [s.to_dict() for s in self.summary], "stopped": self.stopped}


def spread(rows: list[dict]) -> list[StepSpread]:
    """Mean, sample standard deviation, min and max per step over the seeds."""
    from reflectloop.core.analysis.stats import mean, stdev

    out = []
    for step in sorted({r["step"] for r in rows}):
        at = [r for r in rows if r["step"] == step]
        stats: dict[str, dict] = {"mean": {}, "std": {}, "min": {}, "max": {}}
        for f in FIELDS:
            vals = [r[f] for r in at if r[f] is not None]
            stats["mean"][f] = mean(vals) if vals else None
            stats["std"][f] = stdev(vals) if vals else None
            stats["min"][f] = min(vals) if vals else None
            stats["max"][f] = max(vals) if vals else None
        out.append(StepSpread(step, len(at), **stats))
    return out


async def repeat_runs(
    values: dict,
    k: int,
    *,
    folder: str | Path | None = None,
    injected: Callable | None = None,
    listeners: tuple = (),
    on_step: Callable[[int, object], None] | None = None,
    resume: dict | None = None,
) -> RepeatResult:
    """Run the settings ``values`` (as ``tui.flags.settings`` gives them) with
    ``k`` seeds.  ``injected(config) -> (task, target, optimizer)`` replaces
    the models (tests); ``on_step(seed, record)`` sees every step; ``resume``:
    more ``open_run`` overrides for continued sessions (``--use-stored-task``)."""
    from reflectloop.core.settings.config import from_dict
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.service import open_run, resumable, session_path

    if k < 1:
        raise ValueError("--repeats must be at least 1")
    method = str(values.get("method", ""))
    if method == "all" or "," in method:
        raise ValueError("--repeats runs one method at a time: give --method NAME")
    base = from_dict(values)
    # Made by the first session, so input refused before it leaves no folder behind.
    folder = Path(folder) if folder else session_path(base, label=f"{base.method}-x{k}", folder=True)
    seeds = [base.seed + i for i in range(k)]
    result = RepeatResult(folder, seeds, [])
    for seed in seeds:
        session = folder / f"seed-{seed}.session"
        result.sessions.append(session)
        run = open_run(base.replace(seed=seed), AutoReviewer(), session=session,
                       overrides=resumable(values) | (resume or {}), listeners=listeners, injected=injected)
        try:
            for record in run.records:
                _collect(result, seed, record, on_step)
            drive = await run.drive(on_record=functools.partial(_collect, result, seed, on_step=on_step))
        finally:
            await run.close()
        if drive.stopped:
            result.stopped, result.stopped_kind = f"seed {seed}: {drive.stopped}", drive.kind
            break
    result.summary = spread(result.rows)
    _write(result)
    return result


def _collect(result: RepeatResult, seed: int, record: StepRecord, on_step) -> None:
    result.rows.append({"seed": seed, "step": record.step, "dev_best": record.dev_best, "test": record.test})
    if on_step:
        on_step(seed, record)


def _write(result: RepeatResult) -> None:
    with (result.folder / "repeats.csv").open("w", newline="") as f:
        rows = csv.DictWriter(f, fieldnames=["seed", "step", "dev_best", "test"])
        rows.writeheader()
        rows.writerows(result.rows)
    with (result.folder / "repeats_summary.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "runs"] + [f"{f}_{s}" for f in FIELDS for s in ("mean", "std", "min", "max")])
        for s in result.summary:
            w.writerow([s.step, s.n] + [getattr(s, stat)[f] for f in FIELDS for stat in ("mean", "std", "min", "max")])


def summary_text(result: RepeatResult) -> str:
    def n(x):
        return "  -  " if x is None else f"{x:.3f}"

    lines = [f"{len(result.seeds)} seeds ({', '.join(map(str, result.seeds))}); sessions in {result.folder}",
             "step  runs  dev best mean ± sd   [min, max]       test mean ± sd   [min, max]"]
    for s in result.summary:
        lines.append(
            f"{s.step:>4}  {s.n:>4}  {n(s.mean['dev_best'])} ± {n(s.std['dev_best'])}  "
            f"[{n(s.min['dev_best'])}, {n(s.max['dev_best'])}]  {n(s.mean['test'])} ± {n(s.std['test'])}  "
            f"[{n(s.min['test'])}, {n(s.max['test'])}]"
        )
    if result.stopped:
        lines.append(f"stopped early: {result.stopped}")
    return "\n".join(lines)


async def main(args, values: dict) -> int:
    """``run --repeats K``: ``values`` are the run's settings."""

    def progress(seed, record):
        print(f"seed {seed}  step {record.step:>2}  dev best {record.dev_best:.3f}  "
              f"test {'  -  ' if record.test is None else f'{record.test:.3f}'}", file=sys.stderr, flush=True)

    from reflectloop.tui.flags import stored_task_override

    result = await repeat_runs(values, args.repeats, folder=args.session, on_step=progress,
                               resume=stored_task_override(args))
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(summary_text(result))
    if not result.stopped:
        return 0
    return 4 if result.stopped_kind == "errored" else 3  # the exit codes of a single run
