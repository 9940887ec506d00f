"""Human vs LLM reflection on the same error set.

For every error set (one step, one parent) that has both a person's feedback
and the optimizer's, the candidates refined from each (``Prompt.feedback_ids``
pointing to human vs LLM feedback proposals) are compared on the dev
examples both were evaluated on.  Each side is represented by its best
candidate on dev — the one the beam selection would keep — and the
comparison is paired, from the human side: a "win" is a human refinement
significantly better (exact McNemar p < alpha) than the LLM's, a "loss" one
significantly worse, everything else a tie.  Agreement is the similarity of
the two reflections' texts (all of one author's feedback on the set, joined).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from reflectloop.core.analysis.data import AuditData, Feedback
from reflectloop.core.analysis.stats import RESAMPLES, SEED, Comparison, compare, mean
from reflectloop.core.analysis.text import Similarity, TfIdfSimilarity
from reflectloop.core.types import Prompt


@dataclass
class ErrorSetComparison:
    step: int
    parent_id: str
    human_text: str
    llm_text: str
    llm_edited: bool  # the person edited the LLM feedback before refining
    agreement: float
    human_candidates: tuple[str, ...]
    llm_candidates: tuple[str, ...]
    human_best: str | None
    llm_best: str | None
    comparison: Comparison | None  # a = LLM refinement, b = human refinement
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "step": self.step, "parent_id": self.parent_id, "human_text": self.human_text, "llm_text": self.llm_text,
            "llm_edited": self.llm_edited, "agreement": self.agreement,
            "human_candidates": list(self.human_candidates), "llm_candidates": list(self.llm_candidates),
            "human_best": self.human_best, "llm_best": self.llm_best,
            "comparison": self.comparison.to_dict() if self.comparison else None, "note": self.note,
        }


@dataclass
class HumanVsLLM:
    rows: list[ErrorSetComparison] = field(default_factory=list)

    @property
    def compared(self) -> list[Comparison]:
        return [r.comparison for r in self.rows if r.comparison and r.comparison.n]

    def counts(self) -> dict[str, int]:
        """Significant wins/ties/losses of the human refinements."""
        c = {"win": 0, "tie": 0, "loss": 0}
        for comp in self.compared:
            c[comp.verdict] += 1
        return c

    def raw_counts(self) -> dict[str, int]:
        """Who scored higher, untested."""
        c = {"better": 0, "equal": 0, "worse": 0}
        for comp in self.compared:
            c[comp.raw] += 1
        return c

    @property
    def mean_diff(self) -> float:
        return mean(c.diff for c in self.compared)

    @property
    def mean_agreement(self) -> float:
        return mean(r.agreement for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "error_sets": len(self.rows), "compared": len(self.compared), "significant": self.counts(),
            "raw": self.raw_counts(), "mean_diff_human_minus_llm": _finite(self.mean_diff),
            "mean_agreement": _finite(self.mean_agreement), "rows": [r.to_dict() for r in self.rows],
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def _best(data: AuditData, candidates: list[Prompt]) -> Prompt | None:
    scores = {p.id: s for p in candidates if p.id in data.dev and (s := data.dev[p.id].score) is not None}
    scored = [p for p in candidates if p.id in scores]
    return max(scored, key=lambda p: scores[p.id]) if scored else None  # max keeps the first of ties


def human_vs_llm(
    data: AuditData, *, backend: Similarity | None = None, resamples: int = RESAMPLES, seed: int = SEED
) -> HumanVsLLM:
    backend = backend or TfIdfSimilarity()
    sets: dict[tuple[int, str, str], dict[str, list[Feedback]]] = {}
    for f in data.feedback():
        sets.setdefault(f.error_set, {}).setdefault(f.author, []).append(f)
    both = [(k, v) for k, v in sets.items() if v.get("human") and v.get("llm")]
    human_texts = ["\n".join(f.text for f in v["human"]) for _, v in both]
    llm_texts = ["\n".join(f.text for f in v["llm"]) for _, v in both]
    # One similarity matrix over every pair's texts: TF-IDF shares one IDF across the session.
    m = backend.matrix(human_texts + llm_texts) if both else []
    out = HumanVsLLM()
    for i, ((step, parent, _round), v) in enumerate(both):
        human_ids = {f.id for f in v["human"]}
        llm_ids = {f.id for f in v["llm"]}
        h_cands = [p for p in data.refinements(human_ids) if p.step == step]
        l_cands = [p for p in data.refinements(llm_ids) if p.step == step]
        hb, lb = _best(data, h_cands), _best(data, l_cands)
        comparison, note = None, ""
        if hb and lb:
            comparison = compare(data.dev[lb.id], data.dev[hb.id], resamples=resamples, seed=seed)
            if comparison.n == 0:
                note = "no dev example scored by both"
        elif not h_cands or not l_cands:
            missing = [w for w, c in (("human", h_cands), ("LLM", l_cands)) if not c]
            note = f"no refinement from the {' and the '.join(missing)} feedback"
        else:
            note = "a refinement was not evaluated on dev"
        out.rows.append(ErrorSetComparison(
            step, parent, human_texts[i], llm_texts[i], any(f.decision == "edit" for f in v["llm"]),
            m[i][len(both) + i], tuple(p.id for p in h_cands), tuple(p.id for p in l_cands),
            hb.id if hb else None, lb.id if lb else None, comparison, note,
        ))
    return out
