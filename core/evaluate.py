"""Evaluate a prompt over examples with the target model, concurrently.

The study's tasks are scored by exact match (``core.scoring``); a task file's
by its ``Scorer`` (output contract, metric, threshold): each example gets a
graded score and the metric's feedback, ``correct`` means it reached the
threshold, and a metric with a summary of its own (label macro-F1) sets the
prompt's score.  A judge whose verdict cannot be read errors its example,
which is then left out of the score like a failed call, never scored 0.
An errored example says where it failed (``ExampleResult.failed_in``): a
call, which another attempt may get through, or the metric on the output.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Literal, Sequence

from core.llm.base import ProviderError
from core.metrics.base import MetricError, MetricResult, TaskExample
from core.prompting import target_messages
from core.scoring import score_output
from core.types import Completion, Evaluation, Example, ExampleResult, Params, Prompt

OnResult = Callable[[ExampleResult], None]


async def evaluate_one(
    llm, prompt: Prompt, example: Example, params: Params, protocol: str = "reflectloop", taskfile: Any = None
) -> ExampleResult:
    """``taskfile``: the task's ``TaskSpec`` (its template and scorer), or None."""
    try:
        messages = target_messages(prompt, example, protocol, taskfile)
        completion = await llm.complete(messages, params, purpose="evaluate")
    except ProviderError as exc:
        # A call that failed for good is not a wrong answer: it is left out of the score.
        return ExampleResult(example.id, "", None, False, False, errored=str(exc), failed_in="call")
    if taskfile is not None:
        return await graded(taskfile, example, completion)
    answer, correct, followed = score_output(
        completion.text, example.targets, protocol=protocol, truncated=completion.truncated
    )
    return ExampleResult(example.id, completion.text, answer, correct, followed)


async def graded(taskfile: Any, example: Example, completion: Completion) -> ExampleResult:
    """One output scored by the task file's scorer.  A metric that cannot be
    used as configured (a judge with no model) stops the run: every example
    would fail the same way, so it is a configuration error, not a score."""
    scorer = taskfile.scorer
    try:
        result = await scorer.score(TaskExample.from_example(example), completion.text, truncated=completion.truncated)
    except MetricError as exc:
        raise MetricError(f"{taskfile.path.name}: {exc}") from None
    if result.error is not None:
        # The judge's unreadable reply is kept as the feedback, for the person to see.
        return ExampleResult(example.id, completion.text, result.answer, False, result.followed,
                             errored=result.error, failed_in="call" if result.call_failed else "metric",
                             feedback=result.raw)
    return ExampleResult(example.id, completion.text, result.answer, not scorer.is_error(result), result.followed,
                         score=result.score, feedback=result.feedback)


def aggregate(taskfile: Any, examples: Sequence[Example], results: Sequence[ExampleResult]) -> float | None:
    """The metric's own score of a prompt over ``results`` when it is not the
    mean of the examples' scores (label macro-F1); None when it is the mean,
    which ``Evaluation.score`` computes itself."""
    if taskfile is None:
        return None
    by_id = {e.id: e for e in examples}
    pairs = [(TaskExample.from_example(by_id[r.example_id]), metric_result(r)) for r in results]
    summary = taskfile.scorer.aggregate(pairs)
    return None if "mean" in summary.stats else summary.score


def metric_result(result: ExampleResult) -> MetricResult:
    """A recorded result as the metric returned it, so a prompt's summary can
    be computed again from a session."""
    if result.errored is not None:
        return MetricResult.errored(result.errored, answer=result.answer, call_failed=result.failed_in == "call")
    return MetricResult(result.value, result.feedback, result.answer, result.followed_format)


async def evaluate(
    llm,
    prompt: Prompt,
    examples: Sequence[Example],
    *,
    split: Literal["dev", "test"],
    params: Params,
    on_result: OnResult | None = None,
    protocol: str = "reflectloop",
    taskfile: Any = None,
) -> Evaluation:
    """Every example goes out at once; the model's own concurrency limit paces
    them, so a fast endpoint is never waited on by this function."""

    async def run(example: Example) -> ExampleResult:
        result = await evaluate_one(llm, prompt, example, params, protocol, taskfile)
        if on_result:
            on_result(result)
        return result

    results = await asyncio.gather(*(run(e) for e in examples))
    return Evaluation(prompt.id, split, tuple(results), aggregate(taskfile, examples, results))
