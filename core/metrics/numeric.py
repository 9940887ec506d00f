"""A number compared within a tolerance: |got - gold| <= abs_tol + rel_tol * |gold|."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from reflectloop.core.metrics.base import MetricError, MetricResult, SyncMetric, TaskExample, as_text, quote
from reflectloop.core.metrics.text import no_target
from reflectloop.core.evaluation.scoring import normalize

_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d*\.?\d+(?:[eE][-+]?\d+)?")


def parse_number(text: str) -> float | None:
    """The last number in ``text`` ("about 1,200.5 km" → 1200.5); a bare
    number word ("fourteen") counts, as in exact matching."""
    word = normalize(text)
    found = _NUMBER.findall(word) if _NUMBER.fullmatch(word) else _NUMBER.findall(text)
    if not found:
        return None
    number = float(found[-1].replace(",", ""))
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Numeric(SyncMetric):
    kind: ClassVar[str] = "numeric"
    abs_tol: float = 0.0
    rel_tol: float = 0.0

    def __post_init__(self) -> None:
        if self.abs_tol < 0 or self.rel_tol < 0:
            raise MetricError(
                f"numeric tolerances must not be negative (abs_tol {self.abs_tol}, rel_tol {self.rel_tol})"
            )

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        if not example.targets:
            return no_target(example)
        gold = next((n for n in map(parse_number, example.targets) if n is not None), None)
        if gold is None:
            return MetricResult.errored(f"example {example.id!r}: target {quote(example.targets[0])} is not a number")
        got = parse_number(as_text(value))
        if got is None:
            return MetricResult(0.0, f"expected {gold:g}, but the output has no number")
        tolerance = self.abs_tol + self.rel_tol * abs(gold)
        if abs(got - gold) <= tolerance:
            return MetricResult(1.0, answer=f"{got:g}")
        within = f" (within {tolerance:g})" if tolerance else ""
        return MetricResult(0.0, f"expected {gold:g}{within}, got {got:g}", answer=f"{got:g}")
