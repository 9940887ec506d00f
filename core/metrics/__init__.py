"""Metrics: each scores one output in [0, 1] with an optional feedback text;
an output contract reads the value to score out of the reply; a ``Scorer``
joins the two with the error threshold.  ``build_metric`` and
``build_contract`` turn a task file's ``[metric]`` and ``[output]`` tables
into them, refusing unknown keys."""
from reflectloop.core.metrics.base import Aggregate, MetricError, MetricResult, TaskExample
from reflectloop.core.metrics.contract import Parsed
from reflectloop.core.metrics.scorer import CONTRACTS, DEFAULT_THRESHOLD, METRICS, Scorer, build_contract, build_metric

__all__ = [
    "CONTRACTS",
    "DEFAULT_THRESHOLD",
    "METRICS",
    "Aggregate",
    "MetricError",
    "MetricResult",
    "Parsed",
    "Scorer",
    "TaskExample",
    "build_contract",
    "build_metric",
]
