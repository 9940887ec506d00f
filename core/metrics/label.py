"""Classification: each example is right or wrong (accuracy), and a prompt
is summarised by macro-F1, which a majority-class prompt cannot game."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from reflectloop.core.metrics.base import Aggregate, MetricError, MetricResult, SyncMetric, TaskExample, as_text, quote
from reflectloop.core.metrics.text import no_target
from reflectloop.core.evaluation.scoring import normalize

AVERAGES = ("macro_f1", "accuracy")


@dataclass(frozen=True)
class LabelAccuracy(SyncMetric):
    """``average`` picks the prompt's score: macro-F1 (default) or accuracy;
    both are always in the aggregate's stats, with each label's F1."""

    kind: ClassVar[str] = "label"
    average: str = "macro_f1"

    def __post_init__(self) -> None:
        if self.average not in AVERAGES:
            raise MetricError(f"label metric: unknown average {self.average!r} (known: {', '.join(AVERAGES)})")

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        if not example.targets:
            return no_target(example)
        predicted = as_text(value)
        if normalize(predicted) == normalize(example.targets[0]):
            return MetricResult(1.0, answer=predicted)
        feedback = f"predicted {quote(predicted)}, gold label {quote(example.targets[0])}"
        return MetricResult(0.0, feedback, answer=predicted)

    def aggregate(self, pairs: Sequence[tuple[TaskExample, MetricResult]]) -> Aggregate:
        scored = [(ex, r) for ex, r in pairs if r.error is None and ex.targets]
        gold = [normalize(ex.targets[0]) for ex, _ in scored]
        # An output that named no label (a contract violation) is a miss for
        # its gold class and a prediction of no class.
        predicted = [normalize(r.answer) if r.answer is not None else None for _, r in scored]
        accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(scored) if scored else 0.0
        per_label = label_f1(gold, predicted)
        macro = sum(per_label.values()) / len(per_label) if per_label else 0.0
        stats = {"accuracy": accuracy, "macro_f1": macro, **{f"f1[{k}]": v for k, v in per_label.items()}}
        score = (macro if self.average == "macro_f1" else accuracy) if scored else None  # nothing scored: no score
        return Aggregate(score, len(scored), len(pairs) - len(scored), stats)


def label_f1(gold: Sequence[str], predicted: Sequence[str | None]) -> dict[str, float]:
    """F1 of every label that occurs as gold or as a prediction (as
    scikit-learn counts them), in order of first appearance."""
    labels = list(dict.fromkeys([*gold, *(p for p in predicted if p is not None)]))
    result = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        result[label] = 2 * tp / (2 * tp + fp + fn)
    return result
