"""Evaluate a prompt over examples with the target model, concurrently."""
from __future__ import annotations

import asyncio
from typing import Callable, Literal, Sequence

from core.llm.base import ProviderError
from core.prompting import target_messages
from core.scoring import score_output
from core.types import Evaluation, Example, ExampleResult, Params, Prompt

OnResult = Callable[[ExampleResult], None]


async def evaluate_one(
    llm, prompt: Prompt, example: Example, params: Params, protocol: str = "reflectloop"
) -> ExampleResult:
    try:
        completion = await llm.complete(target_messages(prompt, example, protocol), params, purpose="evaluate")
    except ProviderError as exc:
        # A call that failed for good is not a wrong answer: it is left out of the score.
        return ExampleResult(example.id, "", None, False, False, errored=str(exc))
    answer, correct, followed = score_output(
        completion.text, example.targets, protocol=protocol, truncated=completion.truncated
    )
    return ExampleResult(example.id, completion.text, answer, correct, followed)


async def evaluate(
    llm,
    prompt: Prompt,
    examples: Sequence[Example],
    *,
    split: Literal["dev", "test"],
    params: Params,
    on_result: OnResult | None = None,
    protocol: str = "reflectloop",
) -> Evaluation:
    """Every example goes out at once; the model's own concurrency limit paces
    them, so a fast endpoint is never waited on by this function."""

    async def run(example: Example) -> ExampleResult:
        result = await evaluate_one(llm, prompt, example, params, protocol)
        if on_result:
            on_result(result)
        return result

    results = await asyncio.gather(*(run(e) for e in examples))
    return Evaluation(prompt.id, split, tuple(results))
