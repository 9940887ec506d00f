"""One call for the whole audit of a session, and method-vs-method comparisons."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from reflectloop.core.analysis.control import ControlResult
from reflectloop.core.analysis.data import AuditData
from reflectloop.core.analysis.following import Following, following
from reflectloop.core.analysis.grounding import Grounding, grounding
from reflectloop.core.analysis.human_llm import HumanVsLLM, human_vs_llm
from reflectloop.core.analysis.repetition import Repetition, repetition
from reflectloop.core.analysis.stats import RESAMPLES, SEED, Comparison, compare
from reflectloop.core.analysis.text import Similarity, TfIdfSimilarity


@dataclass
class SessionAudit:
    name: str
    task: str
    method: str
    source: str
    curve: list[dict]  # per step: step, dev_best, dev_mean_beam, test
    repetition: Repetition
    grounding: Grounding
    human_llm: HumanVsLLM
    following: Following
    control: ControlResult | None = None
    notes: list[str] = field(default_factory=list)

    def headline(self) -> dict:
        """The few numbers a session is summed up by."""
        f = lambda x: None if x is None or (isinstance(x, float) and math.isnan(x)) else x
        counts = self.human_llm.counts()
        return {
            "feedback_similarity_across_error_sets": f(self.repetition.items_across_sets.mean),
            "near_duplicate_feedback": f(self.repetition.near_duplicates),
            "control_same": f(self.control.same) if self.control else None,
            "control_different": f(self.control.different) if self.control else None,
            "control_insensitivity": f(self.control.insensitivity) if self.control else None,
            "ungrounded_llm_feedback": f(self.grounding.ungrounded_share("llm")),
            "human_vs_llm": f"{counts['win']}/{counts['tie']}/{counts['loss']}" if self.human_llm.compared else None,
            "format_rate": f(self.following.format_rate),
            "step_adherence": f(self.following.step_adherence),
            "unchanged_revisions": f(self.following.unchanged_share),
        }

    def to_dict(self) -> dict:
        return {
            "name": self.name, "task": self.task, "method": self.method, "source": self.source,
            "headline": self.headline(), "curve": self.curve,
            "repetition": self.repetition.to_dict(), "grounding": self.grounding.to_dict(),
            "human_vs_llm": self.human_llm.to_dict(), "following": self.following.to_dict(),
            "control": self.control.to_dict() if self.control else None, "notes": list(self.notes),
        }


def curve(data: AuditData) -> list[dict]:
    rows = []
    for r in sorted(data.steps, key=lambda s: s.step):
        # A member with no score (every example errored) is absent from the mean, never a 0 in it.
        beam = [s for i in r.beam if i in data.dev and (s := data.dev[i].score) is not None]
        rows.append({
            "step": r.step, "dev_best": r.dev_best, "test": r.test,
            "dev_mean_beam": sum(beam) / len(beam) if beam else None,
        })
    return rows


def audit(
    data: AuditData,
    *,
    backend: Similarity | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    control: ControlResult | None = None,
) -> SessionAudit:
    backend = backend or TfIdfSimilarity()
    return SessionAudit(
        name=data.name, task=data.task, method=data.method, source=data.source, curve=curve(data),
        repetition=repetition(data, backend=backend),
        grounding=grounding(data),
        human_llm=human_vs_llm(data, backend=backend, resamples=resamples, seed=seed),
        following=following(data, resamples=resamples, seed=seed),
        control=control, notes=list(data.notes),
    )


@dataclass(frozen=True)
class MethodComparison:
    task: str
    split: str
    a_session: str
    b_session: str
    a_method: str
    b_method: str
    comparison: Comparison

    def to_dict(self) -> dict:
        return {
            "task": self.task, "split": self.split, "a": {"session": self.a_session, "method": self.a_method},
            "b": {"session": self.b_session, "method": self.b_method}, "comparison": self.comparison.to_dict(),
        }


def final_best(data: AuditData) -> str | None:
    """The best prompt of the last step (what a run hands over)."""
    if not data.steps:
        return None
    return max(data.steps, key=lambda s: s.step).best_id


SPLIT_KEYS = ("task", "data_dir", "seed", "dev_size", "test_size")


def same_split(a: AuditData, b: AuditData) -> bool:
    """Same task and the same examples behind the same ids: the settings that
    decide the split agree (where both sessions record them)."""
    if a.task != b.task:
        return False
    return all(a.config[k] == b.config[k] for k in SPLIT_KEYS if k in a.config and k in b.config)


def compare_methods(
    datas: Sequence[AuditData], *, resamples: int = RESAMPLES, seed: int = SEED
) -> list[MethodComparison]:
    """Every pair of sessions on the same task and split (same seed and
    sizes): their final best prompts, paired on the test examples both were
    scored on (dev when either has no test evaluation).  ``b`` is the later
    session in the given order."""
    out = []
    for i in range(len(datas)):
        for j in range(i + 1, len(datas)):
            a, b = datas[i], datas[j]
            if not same_split(a, b):
                continue
            pa, pb = final_best(a), final_best(b)
            if not pa or not pb:
                continue
            split = "test" if pa in a.test and pb in b.test else "dev"
            ea, eb = a.evaluation(pa, split), b.evaluation(pb, split)
            if ea is None or eb is None:
                continue
            comp = compare(ea, eb, resamples=resamples, seed=seed, names=(f"{a.name}:{pa}", f"{b.name}:{pb}"))
            out.append(MethodComparison(a.task, split, a.name, b.name, a.method, b.method, comp))
    return out
