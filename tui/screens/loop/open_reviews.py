"""The review requests waiting on the person, and which of them close together.

Each request stays its own review (its decisions, its result, its future),
but the person closes them in *units*: a review on its own, or a GEPA
round's open reviews of one phase (the feedback of every column, then the
candidates of every column), which one Done closes once every card of every
column is decided.  The open reviews are kept in the order a person reads
them, a round's left to right by column, so that the card numbers of the
status bar (``card i/N``) and ``n`` walk a round across its columns.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from reflectloop.core.review import ReviewRequest
from reflectloop.core.types import Decision
from reflectloop.tui.widgets.review import ProposalCard, ReviewGroup
from reflectloop.tui.widgets.review.round import RoundPhase, round_of


@dataclass
class OpenReview:
    """A review request waiting on the person."""

    request: ReviewRequest
    future: asyncio.Future
    group: ReviewGroup
    decisions: dict[str, Decision] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    order: int = 0  # where it reads: its round's (or its own) arrival among the open reviews
    where: tuple[int, int, int] | None = None  # a GEPA round's (step, iteration, column); None for any other

    def decide(self, card: ProposalCard, decision: Decision) -> None:
        self.decisions[decision.proposal_id] = decision
        card.show_decision(decision, recorded=decision.by == "auto")
        self.request.record(decision)
        self.group.refresh_count()

    def undo(self, card: ProposalCard, annotator: str) -> None:
        """Withdraw the card's decision: recorded as a superseding ``undo``, the card open again."""
        self.decisions.pop(card.proposal.id, None)
        self.request.record(Decision(card.proposal.id, "undo", by="human", annotator=annotator))
        card.reopen()
        self.group.refresh_count()

    def would_drop_every_initial_prompt(self, card: ProposalCard, decision: Decision) -> bool:
        """Step 0 must keep one prompt: this rejection would leave none."""
        r = self.request
        return (r.step == 0 and r.kind == "candidate" and decision.kind == "reject" and not self.added
                and all(c.decision is not None and c.decision.kind == "reject"
                        for c in self.group.cards.values() if c is not card))

    @property
    def round(self) -> tuple[int, int] | None:
        return self.where[:2] if self.where else None

    @property
    def unit(self) -> tuple:
        """What closes with it: its round's phase, or itself alone."""
        return ("round", *self.where[:2], self.request.kind) if self.where else ("review", self.order)

    @property
    def sort_key(self) -> tuple[int, int]:
        return self.order, self.where[2] if self.where else 0


class OpenReviews(list[OpenReview]):
    """The open reviews in reading order (a round's left to right)."""

    def __init__(self) -> None:
        super().__init__()
        self._arrived = 0
        self._rounds: dict[tuple[int, int], int] = {}  # a round's place, from its first review

    def open(self, review: OpenReview) -> None:
        review.where = where = round_of(review.request.proposals[0]) if review.request.proposals else None
        self._arrived += 1
        review.order = self._rounds.setdefault(where[:2], self._arrived) if where else self._arrived
        self.append(review)
        self.sort(key=lambda r: r.sort_key)  # stable: a column's later review after its earlier one

    def units(self) -> list[list[OpenReview]]:
        """The reviews that close together, in reading order."""
        units: dict[tuple, list[OpenReview]] = {}
        for review in self:
            units.setdefault(review.unit, []).append(review)
        return list(units.values())

    def unit_of(self, card: ProposalCard) -> list[OpenReview]:
        review = next((r for r in self if card.proposal.id in r.group.cards), None)
        return [r for r in self if r.unit == review.unit] if review else []

    def position(self, card: ProposalCard) -> tuple[int, int] | None:
        """A round's card: its number among its phase's cards, left to right, and how many."""
        unit = self.unit_of(card)
        if not unit or unit[0].where is None:
            return None
        cards = cards_of(unit)
        return cards.index(card) + 1, len(cards)

    def phases(self, round: tuple[int, int]) -> list[RoundPhase]:
        """The round's phases with reviews open."""
        return [phase(unit) for unit in self.units() if unit[0].round == round]


def cards_of(unit: list[OpenReview]) -> list[ProposalCard]:
    return [c for r in unit for c in r.group.cards.values()]


def phase(unit: list[OpenReview]) -> RoundPhase:
    """A round's phase (``unit``: its open reviews, left to right): what is left to decide."""
    cards = cards_of(unit)
    column = {c.proposal.id: r.where[2] for r in unit if r.where for c in r.group.cards.values()}
    left = tuple((n, column[c.proposal.id]) for n, c in enumerate(cards, 1) if c.decision is None)
    step, iteration, _ = unit[0].where or (unit[0].request.step, 0, 0)
    return RoundPhase(step, iteration, unit[0].request.kind, len(cards), len(unit), len(set(column.values())), left,
                      addable=any(r.group.allow_add for r in unit))
