"""Contract + metric + threshold: the one object that scores an output.

The contract reads the value out of the reply; a violation scores the
contract's ``violation_score`` without calling the metric.  An example is an
error when it scored under the threshold (default 1: anything not perfect);
an errored example (``MetricResult.error``) is neither an error nor scored.
Whatever the metric, a score that is not a number in [0, 1] (1.7, a string,
NaN) errors its example with that cause: it is never clipped or counted.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from reflectloop.core.metrics.base import (
    Aggregate, MetricError, MetricResult, Request, TaskExample, as_text, build_options, checked,
)
from reflectloop.core.metrics.contract import AnswerLine, JsonObject, LabelSet, RawText, RegexCapture
from reflectloop.core.metrics.json_fields import JsonFields
from reflectloop.core.metrics.judge import Judge
from reflectloop.core.metrics.label import LabelAccuracy
from reflectloop.core.metrics.numeric import Numeric
from reflectloop.core.metrics.promptfoo_asserts import PromptfooAsserts
from reflectloop.core.metrics.python import PythonMetric
from reflectloop.core.metrics.text import Contains, ExactMatch, RegexMatch, StudyMatch, TokenF1

METRICS = {
    cls.kind: cls
    for cls in (
        ExactMatch, StudyMatch, Contains, RegexMatch, Numeric, LabelAccuracy, TokenF1, JsonFields, PythonMetric, Judge
    )
}
# A promptfoo suite's assertions: the metric of ``--task promptfoo:`` only (its
# examples carry the assertions), never a kind a task file may name.
SUITE_METRICS = {PromptfooAsserts.kind: PromptfooAsserts}
CONTRACTS = {cls.kind: cls for cls in (RawText, AnswerLine, LabelSet, JsonObject, RegexCapture)}
DEFAULT_THRESHOLD = 1.0


@dataclass(frozen=True)
class Scorer:
    contract: Any
    metric: Any
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not 0.0 < self.threshold <= 1.0:
            raise MetricError(
                "[metric] threshold (the score under which an example is an error) "
                f"must be in (0, 1], got {self.threshold!r}"
            )

    async def score(self, example: TaskExample, output: str, *, truncated: bool = False,
                    request: Request | None = None) -> MetricResult:
        """``request``: what produced ``output``, passed on to a metric that reads it."""
        parsed = self.contract.parse(output, example, truncated)
        if parsed.violation is not None:
            return MetricResult(self.contract.violation_score, parsed.violation, followed=False)
        if getattr(self.metric, "reads_request", False):
            scored = await self.metric.score(example, parsed.value, request=request or Request())
        else:
            scored = await self.metric.score(example, parsed.value)
        result = checked(scored, f"metric {self.metric.kind}")
        answer = result.answer if result.answer is not None else as_text(parsed.value)
        return dataclasses.replace(result, answer=answer, followed=parsed.followed and result.followed)

    def is_error(self, result: MetricResult) -> bool:
        return result.error is None and result.score is not None and result.score < self.threshold

    def aggregate(self, pairs: Sequence[tuple[TaskExample, MetricResult]]) -> Aggregate:
        return self.metric.aggregate(pairs)


def build_contract(table: Mapping[str, Any], *, where: str = "[output]", base_dir: str = ""):
    cls, options = _kind(table, CONTRACTS, where, default="raw")
    return build_options(cls, options, where, injected={"base_dir": base_dir})


def build_metric(table: Mapping[str, Any], *, where: str = "[metric]", base_dir: str = "",
                 kinds: Mapping[str, type] = METRICS):
    cls, options = _kind(table, kinds, where)
    return build_options(cls, options, where, injected={"base_dir": base_dir})


def _kind(table: Mapping[str, Any], known: Mapping[str, type], where: str, default: str | None = None):
    kind = table.get("kind", default)
    if kind is None:
        raise MetricError(f"{where}: missing key 'kind' (one of: {', '.join(known)})")
    if kind not in known:
        raise MetricError(f"{where}: unknown kind {kind!r} (known: {', '.join(known)})")
    return known[kind], {k: v for k, v in table.items() if k != "kind"}
