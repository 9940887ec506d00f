"""When a step cannot be completed because what it measured failed.

An example's result is scored, errored (with its cause) or absent; an
errored example is never a number.  A few errored examples are left out of a
prompt's score, with a note; beyond ``--max-errored`` of an evaluation's
examples the evaluation says too little to select or report on, so its step
is not completed: the loop raises :class:`EvaluationFailed`, nothing of the
step is recorded as done, and a resume redoes it (what succeeded comes back
from the response cache, what failed is asked again: failed calls are never
cached).
"""
from __future__ import annotations

import asyncio
import re
from typing import Any, Awaitable, Iterable, Sequence

from reflectloop.core.metrics.base import MetricError
from reflectloop.core.types import Evaluation

CAUSES_SHOWN = 3  # distinct causes a stop names
_EXAMPLE = re.compile(r"\s*\(example '[^']*'\)")  # how a metric's cause names its example


class EvaluationFailed(Exception):
    """A step that cannot be completed: an evaluation errored on more than
    ``--max-errored`` of its examples, or no prompt had a score to select.
    Not a ``ValueError``: the input may be right and the service was not;
    the run stops with its own exit code, and ``--session`` resumes it."""

    def __init__(self, message: str, *, step: int, causes: Sequence[str] = (), errored: int = 0, total: int = 0):
        super().__init__(message)
        self.step = step
        self.causes = tuple(causes)
        self.errored = errored
        self.total = total


def distinct_causes(evaluation: Evaluation, limit: int = CAUSES_SHOWN) -> list[str]:
    """The first ``limit`` distinct causes of the evaluation's errored examples,
    in example order; causes that differ only in the example they name count once."""
    first: dict[str, str] = {}
    for r in evaluation.errored:
        first.setdefault(_EXAMPLE.sub("", r.errored or ""), r.errored or "")
    return list(first.values())[:limit]


def too_many_errored(evaluation: Evaluation, limit: float) -> bool:
    """More than ``limit`` (a fraction) of the evaluation's examples errored."""
    total = len(evaluation.results)
    return bool(total) and len(evaluation.errored) > limit * total


def failed(evaluation: Evaluation, step: int, limit: float) -> EvaluationFailed:
    """The stop for ``evaluation``, naming the count and the first distinct causes."""
    errored, total = len(evaluation.errored), len(evaluation.results)
    causes = distinct_causes(evaluation)
    return EvaluationFailed(
        f"step {step}: {errored} of {total} {evaluation.split} examples of {evaluation.prompt_id} errored, more "
        f"than --max-errored {limit:g} allows; the step is not recorded. First causes: " + "; ".join(causes),
        step=step, causes=causes, errored=errored, total=total,
    )


def unscored(step: int, prompt_ids: Sequence[str]) -> EvaluationFailed:
    """The stop when a step has no prompt with a score to keep or test."""
    shown = ", ".join(list(prompt_ids)[:CAUSES_SHOWN]) + (" …" if len(prompt_ids) > CAUSES_SHOWN else "")
    return EvaluationFailed(
        f"step {step}: no prompt has a score (every example of {shown} errored); the step is not recorded",
        step=step,
    )


def check(evaluation: Evaluation, step: int, limit: float, task: Any) -> None:
    """Raise unless ``evaluation`` may be taken as a result.

    A metric that could score no example of a step-0 evaluation is the task's
    fault, not the service's: it stops the run as bad input (``MetricError``,
    exit 2, in the metric's own words) before any optimizer call reflects on
    what it could not measure.  Otherwise more than ``limit`` of the examples
    errored (a call or the metric failing for good) leave the step unfinished."""
    results = evaluation.results
    if step == 0 and results and all(r.failed_in == "metric" for r in results):
        name = task.taskfile.path.name if task.taskfile is not None else task.name
        raise MetricError(f"{name}: the metric could not score any of the {len(results)} {evaluation.split} "
                          f"examples of {evaluation.prompt_id}: {results[0].errored}")
    if too_many_errored(evaluation, limit):
        raise failed(evaluation, step, limit)


async def settled(awaitables: Iterable[Awaitable]) -> list:
    """Every awaitable's result, in order, once all have ended: the first
    failure is raised only then, so no evaluation is left running (and
    writing to the session) after its step has stopped."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
