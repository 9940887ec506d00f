"""Evaluate a prompt over examples with the target model, concurrently.

Every task's scorer (``core.types.TaskScorer``; ``core.metrics.task``) puts
each example to the target and scores the reply: the study's exact match by
default, a task file's template and metric when the task has one.
An errored example says where it failed (``ExampleResult.failed_in``): a
call, which another attempt may get through, or the metric on the output.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Literal, Sequence

from reflectloop.core.llm.base import ProviderError
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.types import Evaluation, Example, ExampleResult, Params, Prompt, TaskScorer

OnResult = Callable[[ExampleResult], None]


async def evaluate_one(
    llm, prompt: Prompt, example: Example, params: Params, protocol: str = "reflectloop",
    scorer: TaskScorer = EXACT_MATCH,
) -> ExampleResult:
    try:
        messages = scorer.messages(prompt, example, protocol)
        completion = await llm.complete(messages, params, purpose="evaluate")
    except ProviderError as exc:
        # A call that failed for good is not a wrong answer: it is left out of the score.
        return ExampleResult(example.id, "", None, False, False, errored=str(exc), failed_in="call")
    return await scorer.score(example, completion, protocol, messages)


async def evaluate(
    llm,
    prompt: Prompt,
    examples: Sequence[Example],
    *,
    split: Literal["dev", "test"],
    params: Params,
    on_result: OnResult | None = None,
    protocol: str = "reflectloop",
    scorer: TaskScorer = EXACT_MATCH,
) -> Evaluation:
    """Every example goes out at once; the model's own concurrency limit paces
    them, so a fast endpoint is never waited on by this function."""

    async def run(example: Example) -> ExampleResult:
        result = await evaluate_one(llm, prompt, example, params, protocol, scorer)
        if on_result:
            on_result(result)
        return result

    results = await asyncio.gather(*(run(e) for e in examples))
    return Evaluation(prompt.id, split, tuple(results), scorer.aggregate(examples, results))
