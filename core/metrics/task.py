"""A task's scorer (``core.types.TaskScorer``): how one example is put to the
target and its reply scored, one interface for every task.

``EXACT_MATCH`` is the study's tasks': the protocol's request
(``core.evaluation.prompting``) and its answer match (``AnswerMatch``), whose result is
recorded as before, correct or not with no graded score.  ``FileScorer`` is a
task file's: its message template, and its output contract, metric and
threshold (``Scorer``); each example gets a graded score and the metric's
feedback, ``correct`` means it reached the threshold, and a metric with a
summary of its own (label macro-F1) sets the prompt's score.  A judge whose
verdict cannot be read errors its example, which is then left out of the
score like a failed call, never scored 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from reflectloop.core.metrics.base import MetricError, MetricResult, Request, TaskExample
from reflectloop.core.metrics.scorer import Scorer
from reflectloop.core.metrics.text import AnswerMatch
from reflectloop.core.evaluation.prompting import render_prompt, target_messages
from reflectloop.core.evaluation.scoring import PROTOCOLS
from reflectloop.core.types import Completion, Example, ExampleResult, Message, Prompt


class Template(Protocol):
    """A task file's message template (``core.tasks.template.MessageTemplate``)."""

    def render(self, prompt: str, values: Mapping[str, str]) -> tuple[Message, ...]: ...


_MATCHES = {p: AnswerMatch(p) for p in PROTOCOLS}


@dataclass(frozen=True)
class ExactMatchScorer:
    """The study's request and answer match, as the run's protocol has them."""

    def messages(self, prompt: Prompt, example: Example, protocol: str) -> tuple[Message, ...]:
        return target_messages(prompt, example, protocol)

    async def score(self, example: Example, completion: Completion, protocol: str,
                    messages: tuple[Message, ...] = ()) -> ExampleResult:
        result = await _MATCHES[protocol].score(TaskExample.from_example(example), completion)
        return ExampleResult(example.id, completion.text, result.answer, result.score == 1.0, result.followed)

    def aggregate(self, examples: Sequence[Example], results: Sequence[ExampleResult]) -> float | None:
        return None  # exact match's score is the mean of its examples'


EXACT_MATCH = ExactMatchScorer()


@dataclass(frozen=True)
class FileScorer:
    """A task file's template and scorer; the run's protocol does not apply."""

    template: Template
    scorer: Scorer
    source: str  # the task file's name, in a configuration error

    def messages(self, prompt: Prompt, example: Example, protocol: str) -> tuple[Message, ...]:
        return self.template.render(render_prompt(prompt), TaskExample.from_example(example).fields)

    async def score(self, example: Example, completion: Completion, protocol: str,
                    messages: tuple[Message, ...] = ()) -> ExampleResult:
        """A metric that cannot be used as configured (a judge with no model)
        stops the run: every example would fail the same way, so it is a
        configuration error, not a score."""
        scorer = self.scorer
        try:
            result = await scorer.score(TaskExample.from_example(example), completion.text,
                                        truncated=completion.truncated, request=Request(messages, completion.model))
        except MetricError as exc:
            raise MetricError(f"{self.source}: {exc}") from None
        if result.error is not None:
            # The judge's unreadable reply is kept as the feedback, for the person to see.
            return ExampleResult(example.id, completion.text, result.answer, False, result.followed,
                                 errored=result.error, failed_in="call" if result.call_failed else "metric",
                                 feedback=result.raw)
        return ExampleResult(example.id, completion.text, result.answer, not scorer.is_error(result),
                             result.followed, score=result.score, feedback=result.feedback)

    def aggregate(self, examples: Sequence[Example], results: Sequence[ExampleResult]) -> float | None:
        by_id = {e.id: e for e in examples}
        pairs = [(TaskExample.from_example(by_id[r.example_id]), metric_result(r)) for r in results]
        summary = self.scorer.aggregate(pairs)
        return None if "mean" in summary.stats else summary.score


def metric_result(result: ExampleResult) -> MetricResult:
    """A recorded result as the metric returned it, so a prompt's summary can
    be computed again from a session."""
    if result.errored is not None:
        return MetricResult.errored(result.errored, answer=result.answer, call_failed=result.failed_in == "call")
    return MetricResult(result.value, result.feedback, result.answer, result.followed_format)
