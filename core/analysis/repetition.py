"""Repetitiveness (the study's finding 1): how alike is the optimizer's
feedback on *different* error sets?

Two units are compared:
* a **reflection** — all feedback texts one author wrote on one error set
  (one step, one parent), joined — against the reflections on other error
  sets, split into pairs from different steps and pairs from the same step
  but different parents;
* a single **feedback item** against every item written on another error
  set; ``near_duplicates`` is the share of items that have a match of at
  least ``NEAR_DUPLICATE`` on some other error set.

Feedback that tracks the errors should be about as different across error
sets as the error sets are; the control experiment (``control.py``) gives
the baseline of how much feedback varies on the *same* error set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from reflectloop.core.analysis.data import AuditData, Feedback
from reflectloop.core.analysis.stats import histogram, mean, quantiles
from reflectloop.core.analysis.text import Similarity, TfIdfSimilarity

NEAR_DUPLICATE = 0.8


@dataclass(frozen=True)
class Distribution:
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return mean(self.values)

    @property
    def quantiles(self) -> list[float]:
        """min, 25%, median, 75%, max."""
        return quantiles(self.values) if self.values else [float("nan")] * 5

    def histogram(self, bins: int = 10) -> list[int]:
        return histogram(self.values, bins=bins)

    def to_dict(self) -> dict:
        q = self.quantiles
        ok = bool(self.values)
        return {
            "n": self.n, "mean": self.mean if ok else None,
            "quantiles": dict(zip(("min", "q25", "median", "q75", "max"), q)) if ok else None,
            "histogram": self.histogram(),
        }


@dataclass
class Repetition:
    backend: str
    author: str
    n_items: int
    n_sets: int
    sets_across_steps: Distribution
    sets_across_parents: Distribution
    items_across_sets: Distribution
    near_duplicates: float  # share of items with a near-duplicate on another error set (nan: no other set)
    per_step: dict[int, float] = field(default_factory=dict)  # step -> mean item similarity to other steps' items

    def to_dict(self) -> dict:
        return {
            "backend": self.backend, "author": self.author, "items": self.n_items, "error_sets": self.n_sets,
            "sets_across_steps": self.sets_across_steps.to_dict(),
            "sets_across_parents": self.sets_across_parents.to_dict(),
            "items_across_sets": self.items_across_sets.to_dict(),
            "near_duplicates": None if math.isnan(self.near_duplicates) else self.near_duplicates,
            "near_duplicate_threshold": NEAR_DUPLICATE,
            "per_step": {str(k): v for k, v in self.per_step.items()},
        }


def _items(data: AuditData, author: str) -> list[Feedback]:
    return [f for f in data.feedback(author) if f.text.strip()]


def repetition(data: AuditData, *, backend: Similarity | None = None, author: str = "llm") -> Repetition:
    backend = backend or TfIdfSimilarity()
    items = _items(data, author)
    sets: dict[tuple[int, str, str], list[Feedback]] = {}
    for f in items:
        sets.setdefault(f.error_set, []).append(f)
    keys = list(sets)
    joined = ["\n".join(f.text for f in sets[k]) for k in keys]

    # One matrix over items and joined reflections together, so TF-IDF shares one IDF.
    texts = [f.text for f in items] + joined
    m = backend.matrix(texts) if texts else []
    ni = len(items)

    across_steps: list[float] = []
    across_parents: list[float] = []
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            s = m[ni + i][ni + j]
            (across_parents if keys[i][0] == keys[j][0] else across_steps).append(s)

    item_pairs, best = [], [0.0] * ni
    by_step: dict[int, list[float]] = {}
    for i in range(ni):
        for j in range(i + 1, ni):
            if items[i].error_set == items[j].error_set:
                continue
            s = m[i][j]
            item_pairs.append(s)
            best[i], best[j] = max(best[i], s), max(best[j], s)
            if items[i].step != items[j].step:
                by_step.setdefault(items[i].step, []).append(s)
                by_step.setdefault(items[j].step, []).append(s)
    others = [i for i in range(ni) if any(items[j].error_set != items[i].error_set for j in range(ni))]
    near = sum(best[i] >= NEAR_DUPLICATE for i in others) / len(others) if others else float("nan")
    return Repetition(
        backend=backend.name, author=author, n_items=ni, n_sets=len(keys),
        sets_across_steps=Distribution(tuple(across_steps)),
        sets_across_parents=Distribution(tuple(across_parents)),
        items_across_sets=Distribution(tuple(item_pairs)),
        near_duplicates=near,
        per_step={k: mean(v) for k, v in sorted(by_step.items())},
    )
