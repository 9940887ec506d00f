"""Honest score comparisons: paired bootstrap intervals, the exact McNemar
test, and the verdict rule used by every table ("win" only when significant).

Two prompts evaluated on the same examples are compared example by example:
``a`` is the reference (parent, LLM refinement, first method) and ``b`` the
challenger (child, human refinement, second method); the difference is
``b - a``.  Examples that errored (a failed call) on either side are left out.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from reflectloop.core.types import Evaluation, ExampleResult

ALPHA = 0.05
RESAMPLES = 2000
SEED = 0


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs
    (a binomial test of min(b, c) against Binomial(b + c, 1/2)).  1.0 when
    there is no discordant pair."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Exact integer arithmetic, then one division: no underflow for large n.
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def bootstrap_ci(
    diffs: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences,
    resampling examples with replacement (seeded, so reproducible)."""
    n = len(diffs)
    if n == 0:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    data = list(diffs)
    means = sorted(sum(rng.choices(data, k=n)) / n for _ in range(resamples))
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    return (_quantile_sorted(means, lo_q), _quantile_sorted(means, hi_q))


def _quantile_sorted(values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    if not values:
        return math.nan
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def quantiles(values: Iterable[float], qs: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> list[float]:
    data = sorted(values)
    return [_quantile_sorted(data, q) for q in qs]


def mean(values: Iterable[float]) -> float:
    data = list(values)
    return sum(data) / len(data) if data else math.nan


def stdev(values: Iterable[float]) -> float:
    """Sample standard deviation (n - 1); 0.0 for one value, nan for none."""
    data = list(values)
    if not data:
        return math.nan
    if len(data) == 1:
        return 0.0
    m = sum(data) / len(data)
    return math.sqrt(sum((x - m) ** 2 for x in data) / (len(data) - 1))


def histogram(values: Iterable[float], *, bins: int = 10, lo: float = 0.0, hi: float = 1.0) -> list[int]:
    """Counts in ``bins`` equal bins over [lo, hi]; the last bin includes hi."""
    counts = [0] * bins
    width = (hi - lo) / bins
    for v in values:
        if math.isnan(v):
            continue
        k = int((min(max(v, lo), hi) - lo) / width)
        counts[min(k, bins - 1)] += 1
    return counts


def text_histogram(values: Sequence[float], *, bins: int = 10, width: int = 40, lo: float = 0.0, hi: float = 1.0) -> str:
    """The histogram as lines ``[0.0,0.1)  ####  12``."""
    counts = histogram(values, bins=bins, lo=lo, hi=hi)
    top = max(counts, default=0) or 1
    step = (hi - lo) / bins
    lines = []
    for k, c in enumerate(counts):
        a, b = lo + k * step, lo + (k + 1) * step
        close = "]" if k == bins - 1 else ")"
        bar = "#" * (round(c / top * width) if c else 0)
        lines.append(f"[{a:.1f},{b:.1f}{close} {bar:<{width}} {c}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    """``b`` against ``a`` on the examples both scored."""

    a: str
    b: str
    n: int  # paired examples
    a_correct: int
    b_correct: int
    b_only: int  # b right, a wrong
    a_only: int  # a right, b wrong
    diff: float  # b score - a score on the paired examples
    ci_low: float
    ci_high: float
    p: float  # exact McNemar
    alpha: float = ALPHA

    @property
    def a_score(self) -> float:
        return self.a_correct / self.n if self.n else math.nan

    @property
    def b_score(self) -> float:
        return self.b_correct / self.n if self.n else math.nan

    @property
    def significant(self) -> bool:
        return self.n > 0 and self.p < self.alpha

    @property
    def verdict(self) -> str:
        """From b's side: "win"/"loss" only when significant, else "tie"."""
        if self.significant and self.diff > 0:
            return "win"
        if self.significant and self.diff < 0:
            return "loss"
        return "tie"

    @property
    def raw(self) -> str:
        """Who scored higher, untested: "better", "worse" or "equal"."""
        return "better" if self.diff > 0 else "worse" if self.diff < 0 else "equal"

    def to_dict(self) -> dict:
        return {
            "a": self.a, "b": self.b, "n": self.n, "a_score": _finite(self.a_score), "b_score": _finite(self.b_score),
            "a_correct": self.a_correct, "b_correct": self.b_correct, "b_only": self.b_only, "a_only": self.a_only,
            "diff": _finite(self.diff), "ci": [_finite(self.ci_low), _finite(self.ci_high)], "p": self.p,
            "significant": self.significant, "verdict": self.verdict,
        }


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) else x


def paired_outcomes(a: Evaluation | Sequence[ExampleResult], b: Evaluation | Sequence[ExampleResult]) -> list[tuple[bool, bool]]:
    """(a correct, b correct) per example id both scored, in a's order."""
    ra = a.results if isinstance(a, Evaluation) else a
    rb = b.results if isinstance(b, Evaluation) else b
    by_id = {r.example_id: r for r in rb if r.errored is None}
    return [(r.correct, by_id[r.example_id].correct) for r in ra if r.errored is None and r.example_id in by_id]


def compare_outcomes(
    pairs: Sequence[tuple[bool, bool]], *, a: str = "a", b: str = "b", resamples: int = RESAMPLES, seed: int = SEED
) -> Comparison:
    n = len(pairs)
    a_correct = sum(x for x, _ in pairs)
    b_correct = sum(y for _, y in pairs)
    b_only = sum(1 for x, y in pairs if y and not x)
    a_only = sum(1 for x, y in pairs if x and not y)
    diffs = [int(y) - int(x) for x, y in pairs]
    lo, hi = bootstrap_ci(diffs, resamples=resamples, seed=seed)
    diff = (b_correct - a_correct) / n if n else math.nan
    return Comparison(a, b, n, a_correct, b_correct, b_only, a_only, diff, lo, hi, mcnemar_exact(b_only, a_only))


def compare(
    a: Evaluation, b: Evaluation, *, resamples: int = RESAMPLES, seed: int = SEED, names: tuple[str, str] | None = None
) -> Comparison:
    """``b`` against ``a`` on their shared, scored examples."""
    na, nb = names or (a.prompt_id, b.prompt_id)
    return compare_outcomes(paired_outcomes(a, b), a=na, b=nb, resamples=resamples, seed=seed)


def fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_ci(lo: float, hi: float) -> str:
    if lo is None or math.isnan(lo):
        return "-"
    return f"[{lo:+.3f}, {hi:+.3f}]"
