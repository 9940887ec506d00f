"""JSON field match: the share of the gold object's fields the output got
right, so an extraction that finds two of three fields scores 2/3 and its
feedback says which field was wrong or missing."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from reflectloop.core.metrics.base import MetricResult, SyncMetric, TaskExample, quote
from reflectloop.core.evaluation.scoring import normalize


@dataclass(frozen=True)
class JsonFields(SyncMetric):
    """``fields`` limits the check to those keys (default: every key of the
    gold object).  Strings compare normalized (case, spacing, quotes), numbers
    by value, lists regardless of order; keys the gold lacks are not
    penalised: a JSON schema in the output contract can forbid them."""

    kind: ClassVar[str] = "json_fields"
    fields: tuple[str, ...] = ()

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        gold = example.target
        if not isinstance(gold, dict):
            return MetricResult.errored(f"example {example.id!r}: the target is not a JSON object")
        got = _as_object(value)
        if got is None:
            return MetricResult(0.0, "the output is not a JSON object", followed=False)
        keys = self.fields or tuple(gold)
        if not keys:
            return MetricResult.errored(f"example {example.id!r}: the target object has no fields")
        wrong = [k for k in keys if k in got and not same(gold.get(k), got[k])]
        missing = [k for k in keys if k not in got and gold.get(k) is not None]
        right = len(keys) - len(wrong) - len(missing)
        if right == len(keys):
            return MetricResult(1.0)
        return MetricResult(right / len(keys), _feedback(gold, got, wrong, missing, right, len(keys)))


def _as_object(value: Any) -> dict | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def same(gold: Any, got: Any) -> bool:
    if isinstance(gold, dict) or isinstance(got, dict):
        return (
            isinstance(gold, dict) and isinstance(got, dict) and gold.keys() == got.keys()
            and all(same(gold[k], got[k]) for k in gold)
        )
    if isinstance(gold, list) or isinstance(got, list):
        both = isinstance(gold, list) and isinstance(got, list)
        return both and sorted(map(_canon, gold)) == sorted(map(_canon, got))
    return _canon(gold) == _canon(got)


def _canon(value: Any) -> str:
    """One comparable form per scalar: 3, 3.0 and "3" agree, as do "Paris"
    and "paris"; containers by their canonical JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return normalize(str(value))


def _feedback(gold: dict, got: dict, wrong: list, missing: list, right: int, total: int) -> str:
    parts = [f"{right} of {total} fields right"]
    if wrong:
        shown = (f"{k} (expected {quote(_show(gold.get(k)), 40)}, got {quote(_show(got[k]), 40)})" for k in wrong)
        parts.append("wrong: " + ", ".join(shown))
    if missing:
        parts.append("missing: " + ", ".join(missing))
    return "; ".join(parts)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
