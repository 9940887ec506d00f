"""The review desk: the cards of the loop screen and the futures behind them.

The loop's proposals arrive as ``ProposalArrived`` and become cards, grouped
per review request.  A ``ReviewRequested`` opens its group; each decision the
person makes (with the annotator, the labels and the rationale) goes straight
to the loop's recorder (``ReviewRequest.record``: durable at once, so quitting
mid-review keeps it), and so does an undo (a superseding ``undo`` decision).
The request's future gets the whole ``ReviewResult`` when the person is done
with it (:meth:`ReviewDesk.done`: every card decided, their own texts added),
or at once in auto mode.  A GEPA round's reviews of one phase close together,
with one Done (``tui.screens.loop.open_reviews``).  Blind mode's
``ReflectRequested`` waits on the person's own reflection the same way.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from textual.widgets import Button

from reflectloop.core.review import AutoReviewer, ReviewRequest, ReviewResult
from reflectloop.core.rubric import Rubric
from reflectloop.core.types import Decision, DecisionKind, Prompt, Proposal, ProposalId
from reflectloop.tui.screens.chat import bulk_takes
from reflectloop.tui.messages import DecisionArrived, ReflectRequested, ReviewRequested
from reflectloop.tui.screens.loop.desk_host import DeskHost
from reflectloop.tui.screens.loop.key_target import keys_go_to
from reflectloop.tui.screens.loop.open_reviews import OpenReview, OpenReviews, phase
from reflectloop.tui.widgets.review import ProposalCard, ReflectPrompt, ReviewGroup
from reflectloop.tui.widgets.review.round import Rounds, round_of
from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.text import clean


def group_key(p: Proposal) -> str:
    """Proposals of one review request share their id up to the index
    (``s1/p0/candidate/hf0`` → ``s1/p0/candidate/hf``); a person's own end in ``h``."""
    return ProposalId.parse(p.id).group


class ReviewDesk:
    def __init__(self, screen: DeskHost) -> None:
        self.screen = screen
        self.prompts: dict[str, Prompt] = {}  # every prompt seen, for the parents' texts
        self.groups: dict[str, ReviewGroup] = {}  # groups still collecting cards, by key
        self.cards: dict[str, ReviewGroup] = {}  # proposal id -> its group
        self.reviews = OpenReviews()  # in reading order: a GEPA round's left to right
        self.reflects: list[tuple[ReflectPrompt, ReflectRequested]] = []
        self.made: list[tuple[OpenReview, ProposalCard]] = []  # this sitting's decisions, newest last (undo)
        self.annotator: str | None = None  # None: no usable name, so nothing can be decided (the screen said why)
        self.rubric: Rubric | None = None
        self._empty = 0
        self.rounds = Rounds()  # GEPA's iterations, each a row of its proposals' groups

    @property
    def waiting(self) -> bool:
        return bool(self.reviews or self.reflects)

    def open_cards(self) -> list[ProposalCard]:
        return [c for r in self.reviews for c in r.group.undecided()]

    def left(self) -> int | None:
        """Cards still undecided in the open reviews; None when no review is open."""
        return len(self.open_cards()) if self.reviews else None

    def card(self, proposal_id: str) -> ProposalCard | None:
        group = self.cards.get(proposal_id)
        return group.cards[proposal_id] if group else None

    # ------------------------------------------------- the loop's proposals
    async def proposal_arrived(self, p: Proposal) -> None:
        if not self.screen.transcript.is_attached:
            return  # the app is closing and took the screen down; the run's worker has not ended yet
        key = group_key(p) + ("h" if p.author == "human" else "")
        group = self.groups.get(key)
        if group is None or group.finished or group.is_open:
            parent = self.prompts.get(p.for_candidate or p.parent_id) if p.kind != "demonstration" else None
            group = ReviewGroup(key, p, parent_text=parent.instruction if parent else None, rubric=self.rubric)
            group.in_round = round_of(p) is not None
            self.groups[key] = group
            if not await self.rounds.place(self.screen.transcript, group, p):  # GEPA's: in its round, side by side
                await self.screen.transcript.mount(group)
        await group.add_card(p)
        self.cards[p.id] = group

    def decision_arrived(self, message: DecisionArrived) -> None:
        """A decision the loop recorded: the person's own (already shown),
        a replayed one, or an add."""
        d = message.decision
        group = self.cards.get(d.proposal_id)
        # The desk shows the decisions of its open reviews itself (an undone one may still be queued here).
        if group is None or d.kind == "undo" or self._review_of(d.proposal_id) is not None:
            return
        card = group.cards[d.proposal_id]
        if card.decision is None:
            card.show_decision(d, recorded=d.kind != "add")
        if not group.is_open and not group.undecided() and not group.finished:
            group.close()
            self.groups.pop(group.key, None)

    # ---------------------------------------------------------- reviewing
    async def review_requested(self, message: ReviewRequested) -> None:
        if message.future.done():
            return
        group = await self._group_for(message.request)
        self.groups.pop(group.key, None)
        review = OpenReview(message.request, message.future, group, dict(message.known))
        for pid, decision in message.known.items():
            group.cards[pid].show_decision(decision, recorded=True)
        group.open(allow_add=message.request.allow_add, context=message.request.context)
        for card in group.undecided():
            card.open()
        self.reviews.open(review)
        if self.screen.reviewer.auto:
            self.auto_decide(review)
        elif message.request.proposals and not group.undecided() and not group.allow_add:
            self._finish(review)  # everything was decided in an earlier sitting and nothing can be added
        else:
            self.show_waiting()
            self.focus_next_card()

    async def _group_for(self, request: ReviewRequest) -> ReviewGroup:
        if request.proposals and request.proposals[0].id in self.cards:
            return self.cards[request.proposals[0].id]
        # Nothing proposed: an empty group the person can add to.
        self._empty += 1
        parent = request.parent.id if request.parent else "task"
        first = Proposal(str(ProposalId(request.step, parent, request.kind, "empty", self._empty)), request.step,
                         request.kind, parent, "", request.errors)
        group = ReviewGroup(group_key(first), first, parent_text=request.parent.instruction if request.parent else None,
                            rubric=self.rubric)
        await self.screen.transcript.mount(group)
        return group

    def _review_of(self, proposal_id: str) -> OpenReview | None:
        return next((r for r in self.reviews if proposal_id in r.group.cards), None)

    def choose(self, decision: Decision) -> None:
        """A card's decision: checked, recorded, and the review finished when complete."""
        review = self._review_of(decision.proposal_id)
        if review is None:
            return
        card = review.group.cards[decision.proposal_id]
        if card.decision is not None or not self._may_decide(review, card, decision):
            return
        self._decide(review, card, decision)
        self.focus_next_card(after=card)

    def _may_decide(self, review: OpenReview, card: ProposalCard, decision: Decision) -> bool:
        if self.annotator is None:
            self.screen.say("no annotator name, so no decision is recorded: quit and pass --annotator NAME "
                            "(or set annotator in the config)", level="error")
            return False
        if review.would_drop_every_initial_prompt(card, decision):
            self.screen.say("keep at least one initial prompt: accept or edit one, or type your own first",
                            level="warning")
            return False
        return True

    def _decide(self, review: OpenReview, card: ProposalCard, decision: Decision) -> None:
        review.decide(card, dataclasses.replace(decision, annotator=self.annotator or ""))
        self.made.append((review, card))
        self.show_waiting()

    def _finish(self, review: OpenReview) -> None:
        if review in self.reviews:
            self.reviews.remove(review)
        review.group.close()
        if not review.future.done():
            review.future.set_result(ReviewResult(dict(review.decisions), tuple(review.added)))
        self.show_waiting()

    def group_done(self, key: str) -> None:
        review = next((r for r in self.reviews if r.group.key == key), None)
        if review is not None and not review.group.undecided():
            self._finish(review)
            self.focus_next_card()

    def round_done(self, step: int, iteration: int) -> str:
        """The round's Done: its phases whose cards are all decided close; what happened, to say."""
        return self.done(lambda unit: unit[0].round == (step, iteration))

    def done(self, which: Callable[[list[OpenReview]], bool] = lambda unit: True) -> str:
        """Close the open reviews whose cards are all decided, a GEPA round's
        phase all at once or not at all (a card undecided in any column keeps
        every review of the phase open); what happened, to say."""
        units = [u for u in self.reviews.units() if which(u)]
        ready = [r for u in units if not any(r.group.undecided() for r in u) for r in u]
        waiting = [u for u in units if any(r.group.undecided() for r in u)]
        for review in ready:
            self._finish(review)
        self.focus_next_card()
        said = [phase(u).refusal() for u in waiting if u[0].where is not None]
        left = sum(len(r.group.undecided()) for u in waiting if u[0].where is None for r in u)
        if left:
            said.append(f"{left} card(s) still undecided")
        if ready:
            return "; ".join([f"done: {len(ready)} review(s) closed", *said])
        if said:
            return "; ".join(said) + ": decide them first (n goes to the next; or /accept rest, /reject unparsed)"
        return "no review is open"

    def undo(self) -> str:
        """Withdraw the newest decision of this sitting that can still change."""
        while self.made:
            review, card = self.made.pop()
            if review in self.reviews and card.decision is not None:
                review.undo(card, self.annotator or "")
                self.show_waiting()
                card.focus()
                card.scroll_visible()
                return f"undone: the decision on {clean(card.proposal.id)}; it is open again"
        return "nothing to undo: only decisions of a review still open can be undone"

    def bulk(self, kind: DecisionKind, which: str) -> int:
        """Decide the undecided cards of the open reviews at once: ``which`` is
        "parsed" (output parsed), "unparsed" or "rest" (all); how many were decided."""
        n = 0
        for review in list(self.reviews):
            for card in review.group.undecided():
                if not bulk_takes(card.proposal, which):
                    continue
                decision = Decision(card.proposal.id, kind, by="human", labels=card.label_ids,
                                    rationale=card.rationale)
                if self._may_decide(review, card, decision):
                    self._decide(review, card, decision)
                    n += 1
        self.focus_next_card()
        return n

    def next_undecided(self) -> bool:
        """Focus the next undecided card after the focused one (wrapping
        round); the Done button when none is left; False when no review is open."""
        cards = self.open_cards()
        if cards:
            card = self._undecided_after(self.screen.focused, cards)
            card.focus()
            card.scroll_visible()
            return True
        if self.reviews:
            button = self.done_button(self.reviews[0])
            button.focus()
            button.scroll_visible()
            return True
        return False

    def auto_decide(self, review: OpenReview) -> None:
        auto = AutoReviewer()
        for card in review.group.undecided():
            kind: DecisionKind = "accept" if auto.accepts(card.proposal) else "reject"
            self._decide(review, card, Decision(card.proposal.id, kind, by=auto.by))
        if review in self.reviews:  # an empty request
            self._finish(review)

    def auto_decide_all(self) -> None:
        for review in list(self.reviews):
            self.auto_decide(review)
        self.answer_all_reflections()

    def add_own(self, text: str) -> bool:
        """The person's own feedback or candidate, for the open review it
        belongs to (the focused one first); False when none takes it."""
        addable = [r for r in self.reviews if r.request.allow_add and r.request.kind in ("feedback", "candidate")]
        focused = self.screen.focused
        review = next((r for r in addable if focused is not None and focused in r.group.cards.values()),
                      addable[0] if addable else None)
        if review is None:
            return False
        review.added.append(text)
        review.group.add_own(text)
        return True

    def abandon(self) -> None:
        """The step broke off: its open reviews will never be answered."""
        for review in self.reviews:
            review.group.close()
        self.reviews.clear()
        self.reflects.clear()
        self.made.clear()
        self.groups.clear()
        self.show_waiting()

    # --------------------------------------------------------- blind mode
    async def reflect_requested(self, message: ReflectRequested) -> None:
        if message.future.done():
            return
        reviewer = self.screen.reviewer
        if reviewer.auto or not reviewer.blind:
            message.future.set_result(())
            return
        prompt = ReflectPrompt(message.request)
        await self.screen.transcript.mount(prompt)
        self.reflects.append((prompt, message))
        line = self.screen.command_line
        line.placeholder = f"your reflection on the errors of {clean(message.request.parent.id)} (Enter)"
        self.show_waiting()
        line.focus()

    def answer_reflection(self, texts: tuple[str, ...]) -> bool:
        """Answer the oldest request for the person's reflection; False when none waits."""
        if not self.reflects:
            return False
        prompt, message = self.reflects.pop(0)
        prompt.answer(texts)
        if not message.future.done():
            message.future.set_result(texts)
        if not self.reflects:
            self.screen.command_line.placeholder = CommandLine.PLACEHOLDER
        self.show_waiting()
        return True

    def answer_all_reflections(self) -> None:
        while self.answer_reflection(()):
            pass

    # ------------------------------------------------------------- focus
    def _undecided_after(self, widget, cards: list[ProposalCard]) -> ProposalCard:
        """The first of ``cards`` (the open ones: not empty) after ``widget`` in the open reviews, wrapping round."""
        every = [c for r in self.reviews for c in r.group.cards.values()]
        start = every.index(widget) + 1 if widget in every else 0
        return next((c for c in every[start:] if c in cards), cards[0])

    def done_button(self, review: OpenReview) -> Button:
        """What closes the review: its round's Done, else its own."""
        holder = self.rounds.rounds.get(review.round) if review.round else None
        return holder.done_button if holder else review.group.done_button

    def show_waiting(self) -> None:
        waiting = [what for what, pending in (("your reflection", self.reflects), ("your review", self.reviews))
                   if pending]
        self.rounds.show_open({r.round: self.reviews.phases(r.round) for r in self.reviews if r.round})
        status = self.screen.status
        status.waiting = " and ".join(waiting)
        status.left = self.left()
        status.keys = keys_go_to(self.screen.focused, self.reviews.position)  # a round's N grows as reviews arrive
        status.show()

    def first_undecided(self) -> ProposalCard | None:
        cards = self.open_cards()
        return cards[0] if cards else None

    def focus_next_card(self, after: ProposalCard | None = None) -> None:
        """Focus the first card waiting for a decision, else the Done button of
        a review left open, else the transcript: never the input line (a key
        typed next acts, it is not typed as text), and never away from it while
        the person is typing there or a modal is open.  Blind mode's request
        for the person's reflection is the one call that opens the input."""
        screen = self.screen
        if not screen.on_top():
            return
        line = screen.command_line
        if self.reflects:
            line.focus()
            return
        if line.has_focus and line.value:
            return
        cards = self.open_cards()
        if not cards:
            # Every card decided but a review still open: its Done button, so d or Enter closes it.
            if self.reviews:
                self.done_button(self.reviews[0]).focus()
            elif screen.focused is not line:
                screen.transcript.focus()
            return
        focused = screen.focused
        if focused is None or focused is line or focused is after or not (
                isinstance(focused, ProposalCard) and focused.is_open):
            self._undecided_after(after, cards).focus()
