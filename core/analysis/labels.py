"""How often each rubric label was ticked, per method and per step, and how
the labels relate to the dev scores of the prompts the proposals led to.

A card counts for a label when it is an LLM proposal of a kind the label
applies to and it has a decision (the current one, undos resolved by the
loader).  The prompts a proposal led to: a candidate's own prompt, or the
candidates refined from a feedback text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reflectloop.core.analysis.data import AuditData
from reflectloop.core.types import Proposal

NAN = float("nan")


@dataclass(frozen=True)
class LabelRate:
    method: str
    step: int | None  # None: every step of the method
    label: str
    cards: int  # decided cards the label applies to
    ticked: int
    dev_with: float  # mean dev score of what the ticked cards led to
    dev_without: float  # ... and of what the others led to

    @property
    def rate(self) -> float:
        return self.ticked / self.cards if self.cards else NAN

    def to_dict(self) -> dict:
        return {"method": self.method, "step": self.step, "label": self.label, "cards": self.cards,
                "ticked": self.ticked, "rate": self.rate, "dev_with": self.dev_with, "dev_without": self.dev_without}


def _led_to(p: Proposal, data: AuditData) -> list[float]:
    if p.kind == "candidate":
        ids = [p.id]
    elif p.kind == "feedback":
        ids = [q.id for q in data.prompts.values() if p.id in q.feedback_ids]
    else:
        ids = [p.for_candidate] if p.for_candidate else []
    return [s for i in ids if i in data.dev and (s := data.dev[i].score) is not None]  # unscored: absent


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else NAN


def label_rates(datas: Sequence[AuditData], labels: Sequence[tuple[str, Sequence[str]]]) -> list[LabelRate]:
    """Rows per (method, label) over all steps, then per (method, step, label);
    ``labels``: (label id, the proposal kinds it applies to)."""
    cells: dict[tuple[str, int | None, str], list[tuple[bool, list[float]]]] = {}
    for data in datas:
        for p in data.proposals:
            d = data.decisions.get(p.id)
            if p.author != "llm" or d is None:
                continue
            scores = _led_to(p, data)
            for label, kinds in labels:
                if p.kind in kinds:
                    for step in (None, p.step):
                        cells.setdefault((data.method, step, label), []).append((label in d.labels, scores))
    rows = []
    for (method, step, label), seen in sorted(cells.items(), key=lambda c: (c[0][0], c[0][1] is not None, c[0][1] or 0)):
        with_ = [s for ticked, scores in seen if ticked for s in scores]
        without = [s for ticked, scores in seen if not ticked for s in scores]
        rows.append(LabelRate(method, step, label, len(seen), sum(t for t, _ in seen), _mean(with_), _mean(without)))
    return rows
