"""Agreement between annotators on the same proposals, and how alike their
reflections on the same error sets are.

Ratings are nominal: ``{item: {rater: value}}``, a rater missing from an
item is missing data.  Three coefficients:

* Cohen's kappa, exactly two raters, over the items both rated;
* Fleiss' kappa, any number of raters, over the items *every* rater rated
  (it needs the same number of ratings per item);
* Krippendorff's alpha (nominal), any number of raters, missing data
  allowed: every item with at least two ratings counts.

A coefficient that is undefined (no items, or every rating the same value,
so chance agreement is already perfect) is NaN, never a made-up 1.0.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Hashable, Mapping, Sequence

from reflectloop.core.analysis.text import Similarity
from reflectloop.core.types import Decision

Ratings = Mapping[Any, Mapping[str, Hashable]]  # item (any hashable; a Mapping's key type is invariant) -> rater -> value
NAN = float("nan")


def cohen_kappa(ratings: Ratings, a: str, b: str) -> float:
    """(p_o - p_e) / (1 - p_e) over the items rated by both ``a`` and ``b``."""
    pairs = [(r[a], r[b]) for r in ratings.values() if a in r and b in r]
    if not pairs:
        return NAN
    n = len(pairs)
    observed = sum(x == y for x, y in pairs) / n
    left, right = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    expected = sum(left[c] * right[c] for c in left) / (n * n)
    return NAN if expected == 1 else (observed - expected) / (1 - expected)


def fleiss_kappa(ratings: Ratings, raters: Sequence[str]) -> float:
    """Over the items every one of ``raters`` rated (at least two raters)."""
    m = len(raters)
    units = [[r[x] for x in raters] for r in ratings.values() if all(x in r for x in raters)]
    if m < 2 or not units:
        return NAN
    counts = [Counter(u) for u in units]
    per_item = [(sum(c * c for c in cnt.values()) - m) / (m * (m - 1)) for cnt in counts]
    observed = sum(per_item) / len(units)
    totals: Counter = Counter()
    for cnt in counts:
        totals.update(cnt)
    expected = sum((t / (len(units) * m)) ** 2 for t in totals.values())
    return NAN if expected == 1 else (observed - expected) / (1 - expected)


def krippendorff_alpha(ratings: Ratings) -> float:
    """Nominal alpha, 1 - D_o / D_e, from the coincidence matrix of the
    pairable values (items with at least two ratings)."""
    coincidence: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)  # weights 1 / (m - 1)
    for r in ratings.values():
        values = list(r.values())
        m = len(values)
        if m < 2:
            continue
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidence[(values[i], values[j])] += 1 / (m - 1)
    n_c: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _k), w in coincidence.items():
        n_c[c] += w
    n = sum(n_c.values())
    if n <= 1:
        return NAN
    disagree = sum(w for (c, k), w in coincidence.items() if c != k)
    chance = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    return NAN if chance == 0 else 1 - (n - 1) * disagree / chance


# --------------------------------------------------------------- on sessions
@dataclass(frozen=True)
class AgreementRow:
    """The agreement on one thing rated: the decisions, or one label."""

    measure: str  # "decision" or "label:<id>"
    raters: tuple[str, ...]
    items: int  # items with at least two ratings
    complete: int  # items every rater rated (what Fleiss' kappa uses)
    cohen: float | None  # only for exactly two raters
    fleiss: float
    alpha: float

    def to_dict(self) -> dict:
        return {"measure": self.measure, "raters": list(self.raters), "items": self.items,
                "complete": self.complete, "cohen": self.cohen, "fleiss": self.fleiss, "alpha": self.alpha}


def agreement_row(measure: str, ratings: Ratings, raters: Sequence[str]) -> AgreementRow:
    raters = tuple(raters)
    rated = {k: v for k, v in ratings.items() if len(v) >= 2}
    complete = sum(all(x in r for x in raters) for r in rated.values())
    cohen = cohen_kappa(rated, *raters) if len(raters) == 2 else None
    return AgreementRow(measure, raters, len(rated), complete, cohen, fleiss_kappa(rated, raters),
                        krippendorff_alpha(rated))


def decision_ratings(decisions: Sequence[Decision]) -> dict[str, dict[str, str]]:
    """proposal id -> {annotator: decision kind}, from standing decisions."""
    out: dict[str, dict[str, str]] = {}
    for d in decisions:
        out.setdefault(d.proposal_id, {})[d.annotator] = d.kind
    return out


def label_ratings(decisions: Sequence[Decision], kinds: Mapping[str, str], label: str,
                  label_kinds: Sequence[str]) -> dict[str, dict[str, bool]]:
    """proposal id -> {annotator: ticked ``label``?}, over the proposals of the
    kinds the label applies to (``kinds``: proposal id -> kind).  Deciding a
    card without ticking a label is a rating of "no"."""
    out: dict[str, dict[str, bool]] = {}
    for d in decisions:
        if kinds.get(d.proposal_id) in label_kinds:
            out.setdefault(d.proposal_id, {})[d.annotator] = label in d.labels
    return out


def agreement(decisions: Sequence[Decision], kinds: Mapping[str, str],
              labels: Sequence[tuple[str, Sequence[str]]]) -> list[AgreementRow]:
    """Rows for the decisions and for each ``(label id, kinds it applies to)``.
    ``decisions``: every annotator's standing decision on LLM proposals."""
    raters = list(dict.fromkeys(d.annotator for d in decisions))
    rows = [agreement_row("decision", decision_ratings(decisions), raters)]
    for label, label_kinds in labels:
        rows.append(agreement_row(f"label:{label}", label_ratings(decisions, kinds, label, label_kinds), raters))
    return rows


# ------------------------------------------------------------- reflections
@dataclass(frozen=True)
class ReflectionSet:
    """What was written on one error set: each person's reflection and the LLM's."""

    key: str  # "s<step>/<parent id>"
    human: Mapping[str, str]  # annotator -> their reflection
    llm: str  # the optimizer's feedback texts, joined


@dataclass
class ReflectionSimilarity:
    """Mean similarity of the humans' reflections to each other and of the
    LLM's to each human's, per error set and over all of them."""

    backend: str
    per_set: list[dict] = field(default_factory=list)  # key, human_human, llm_human
    human_human: float = NAN
    llm_human: float = NAN

    def to_dict(self) -> dict:
        return {"backend": self.backend, "per_set": self.per_set,
                "human_human": self.human_human, "llm_human": self.llm_human}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else NAN


def reflection_similarity(sets: Sequence[ReflectionSet], backend: Similarity) -> ReflectionSimilarity:
    """Only error sets with at least two human reflections and an LLM text count."""
    out = ReflectionSimilarity(backend.name)
    for s in sets:
        people = [t for t in s.human.values() if t.strip()]
        if len(people) < 2 or not s.llm.strip():
            continue
        sim = backend.matrix([*people, s.llm])
        llm = len(people)
        hh = _mean([sim[i][j] for i, j in combinations(range(llm), 2)])
        lh = _mean([sim[llm][i] for i in range(llm)])
        out.per_set.append({"key": s.key, "humans": len(people), "human_human": hh, "llm_human": lh})
    out.human_human = _mean([r["human_human"] for r in out.per_set])
    out.llm_human = _mean([r["llm_human"] for r in out.per_set])
    return out

