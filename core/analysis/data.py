"""What the audit works on: plain data about one session (or one exported
annotation set), independent of where it was loaded from.

``sessions.audit_data`` fills :class:`AuditData` from a session store or an
exported JSONL file; tests may build one by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reflectloop.core.types import Decision, ErrorCase, Evaluation, Prompt, Proposal, ProposalId, StepRecord


def reflection_round(proposal_id: str) -> str:
    """The round a proposal id names: GEPA's ``i<N>.`` (``…/feedback/i3.0``), else "" (an id
    of another shape, as an imported annotation file may hold, names none)."""
    try:
        return ProposalId.parse(proposal_id).round
    except ValueError:
        return ""


@dataclass(frozen=True)
class Feedback:
    """One feedback text on one error set, as the audit sees it."""

    id: str
    step: int
    parent_id: str
    author: str  # "llm" | "human"
    text: str  # what the optimizer (or the person) wrote
    errors: tuple[ErrorCase, ...]
    decision: str | None = None  # accept | edit | reject | add | None (undecided)
    edited: str | None = None  # the person's edit of an LLM text
    parse_error: str | None = None

    @property
    def error_set(self) -> tuple[int, str, str]:
        """(step, parent, round): the study's methods reflect once per parent and
        step (round ""); GEPA once per iteration, each on its own minibatch."""
        return (self.step, self.parent_id, reflection_round(self.id))

    @property
    def used(self) -> bool:
        """Whether it went on to the refine call."""
        return self.decision in ("accept", "edit", "add")


@dataclass
class AuditData:
    """One session's record, as the analyses need it.

    ``dev``/``test`` hold the latest evaluation of each prompt on that split."""

    name: str
    task: str = ""
    method: str = ""
    config: dict = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    dev: dict[str, Evaluation] = field(default_factory=dict)
    test: dict[str, Evaluation] = field(default_factory=dict)
    proposals: list[Proposal] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    source: str = "session"  # "session" | "export"
    notes: list[str] = field(default_factory=list)  # what the loader could not find

    def feedback(self, author: str | None = None) -> list[Feedback]:
        """Every feedback proposal (human ones included), in the order written."""
        out = []
        for p in self.proposals:
            if p.kind != "feedback" or (author and p.author != author):
                continue
            d = self.decisions.get(p.id)
            out.append(Feedback(
                p.id, p.step, p.parent_id, p.author, p.text, p.errors,
                d.kind if d else ("add" if p.author == "human" else None),
                d.text if d and d.kind == "edit" else None, p.parse_error,
            ))
        return out

    def error_sets(self) -> list[tuple[int, str, str]]:
        """(step, parent, round) of every reflection, in order."""
        return list(dict.fromkeys(f.error_set for f in self.feedback()))

    def refinements(self, feedback_ids: set[str]) -> list[Prompt]:
        """Candidates refined from (only) the given feedback proposals."""
        return [p for p in self.prompts.values() if p.feedback_ids and set(p.feedback_ids) <= feedback_ids]

    def evaluation(self, prompt_id: str, split: str = "dev") -> Evaluation | None:
        return (self.dev if split == "dev" else self.test).get(prompt_id)
