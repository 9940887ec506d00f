"""How proposals become cards, decisions and prompts: the loop's review points.

An optimizer's drafts become proposals whose ids are deterministic
(``ProposalId``: step, parent, kind, tag, index), so re-running a half-done step replays the same
cards and the same recorded decisions.  Each review goes to the ``Reviewer``
as one request; every decision reaches the session through :meth:`record`
exactly once, whether the reviewer reported it card by card or in its result.
Kept candidates and the person's own texts become prompts; under overlap an
accepted candidate starts its first scoring at once (``core.step.overlap``, which
watches the review's decisions).
"""
from __future__ import annotations

from typing import Callable, Sequence

from reflectloop.core.events import DecisionMade, Emit, ProposalMade
from reflectloop.core.methods.parsing import Draft
from reflectloop.core.step.overlap import EarlyStarts
from reflectloop.core.review import Reviewer, ReviewRequest
from reflectloop.core.types import Decision, ErrorCase, Example, Prompt, Proposal, ProposalId, ProposalKind

KeptTexts = list[tuple[Proposal, str]]  # each kept proposal and the text that stands for it (an edit wins)


def normalized(text: str) -> str:
    """The form in which two prompts count as the same."""
    return " ".join(text.split()).casefold()


class ReviewPoints:
    def __init__(self, *, reviewer: Reviewer, emit: Emit, note: Callable[[str], None], early: EarlyStarts,
                 prompts: dict[str, Prompt], annotator: str = ""):
        self.reviewer = reviewer
        self.emit = emit
        self.note = note
        self.annotator = annotator  # on the person's own texts: who wrote them
        self._early = early
        self._prompts = prompts  # the run's prompts (the loop's state), which new candidates must not repeat
        self._recorded: dict[str, Decision] = {}  # what reached the emitter, so nothing is written twice

    def proposals(self, step: int, parent_id: str, kind: ProposalKind, drafts: Sequence[Draft], *,
                  errors: tuple[ErrorCase, ...] = (), tag: str = "", for_candidate: str | None = None,
                  ) -> list[Proposal]:
        proposals = _proposals(step, parent_id, kind, drafts, errors, tag, for_candidate)
        for p in proposals:
            self.emit(ProposalMade(p))
        return proposals

    def foreseen_feedback(self, step: int, parent: Prompt, errors: tuple[ErrorCase, ...], drafts: Sequence[Draft],
                          tag: str) -> tuple[str, ...] | None:
        """The feedback texts a review of these drafts will keep, when the
        reviewer decides by the proposals alone (``foresee``); None: only the
        review can tell.  Nothing is shown or recorded."""
        proposals = _proposals(step, parent.id, "feedback", drafts, errors, tag, None)
        result = self.reviewer.foresee(ReviewRequest(step, "feedback", parent, errors, tuple(proposals), allow_add=True))
        if result is None or result.added:
            return None
        return tuple(text for _, text in _kept(proposals, result.decisions))

    def record(self, decision: Decision) -> None:
        """The one way a decision reaches the session (``ReviewRequest.record``)."""
        if self._recorded.get(decision.proposal_id) != decision:
            self._recorded[decision.proposal_id] = decision
            self.emit(DecisionMade(decision))

    def add_own_texts(self, step, parent_id, kind, texts, errors, tag="") -> KeptTexts:
        """The person's own texts, each a proposal of its own with its "add" decision."""
        chosen = []
        for k, text in enumerate(t for t in texts if t.strip()):
            pid = ProposalId(step, parent_id, kind, tag, k, human=True)
            p = Proposal(str(pid), step, kind, parent_id, text, errors, author="human")
            self.emit(ProposalMade(p))
            self.record(Decision(p.id, "add", text, by="human", annotator=self.annotator))
            chosen.append((p, text))
        return chosen

    def record_decisions(self, proposals: Sequence[Proposal], decisions) -> KeptTexts:
        """Record each proposal's decision (none: rejected); the texts they keep (``Decision.keeps``)."""
        for p in proposals:
            self.record(_decision(p, decisions))
        return _kept(proposals, decisions)

    async def feedback(self, step: int, parent: Prompt, errors: tuple[ErrorCase, ...], proposals: list[Proposal],
                       own: Sequence[str], tag: str) -> tuple[KeptTexts, KeptTexts]:
        """The LLM's feedback the reviewer kept, and the person's own (written
        before, blind, in ``own``, or beside the LLM's)."""
        result = await self.reviewer.review(
            ReviewRequest(step, "feedback", parent, errors, tuple(proposals), allow_add=True, record=self.record)
        )
        llm = self.record_decisions(proposals, result.decisions)
        return llm, self.add_own_texts(step, parent.id, "feedback", (*own, *result.added), errors, tag)

    async def candidates(self, step: int, kind: ProposalKind, parent: Prompt | None, errors: tuple[ErrorCase, ...],
                         proposals: list[Proposal], *, origin: str, feedback_ids: tuple[str, ...] = (),
                         context: str = "", tag: str = "", first: Sequence[Example] | None = None) -> list[Prompt]:
        """The prompts a review of candidates keeps; ``first``: the examples an
        accepted one starts its scoring on at once (None: no overlap)."""
        if first:
            self._watch(step, parent, proposals, origin, feedback_ids, first)
        request = ReviewRequest(step, kind, parent, errors, tuple(proposals), True, context, record=self.record)
        try:
            result = await self.reviewer.review(request)
        finally:
            self._early.unwatch(proposals)
        parent_id = parent.id if parent else "task"
        kept = self.record_decisions(proposals, result.decisions)
        prompts = [self._candidate(p, text, parent, step, origin, feedback_ids) for p, text in kept]
        for p, text in self.add_own_texts(step, parent_id, kind, result.added, errors, tag):
            prompts.append(_prompt(p.id, text, parent, step, "human", ()))
        return prompts

    async def demonstration(self, step: int, parent: Prompt | None, proposals: list[Proposal]) -> str | None:
        """The demonstration text the reviewer kept, if any."""
        request = ReviewRequest(step, "demonstration", parent, (), tuple(proposals), False, record=self.record)
        result = await self.reviewer.review(request)
        kept = self.record_decisions(proposals, result.decisions)
        return kept[0][1].strip() if kept else None

    def deduplicate(self, candidates: list[Prompt]) -> list[Prompt]:
        seen = {normalized(p.instruction) for p in self._prompts.values()}
        fresh = []
        for p in candidates:
            key = normalized(p.instruction)
            if key in seen:
                self.note(f"{p.id}: duplicate of an existing prompt, dropped")
                continue
            seen.add(key)
            fresh.append(p)
        return fresh

    def _candidate(self, p: Proposal, text: str, parent, step, origin, feedback_ids) -> Prompt:
        return _prompt(p.id, text, parent, step, "edited" if text != p.text else origin, feedback_ids)

    def _watch(self, step, parent, proposals, origin, feedback_ids, examples) -> None:
        """While the review is open, each candidate a decision keeps starts its
        first scoring at once (``core.step.overlap``), while the person reads on."""
        known = {normalized(p.instruction) for p in self._prompts.values()}
        self._early.watch(
            proposals, examples, lambda p, text: self._candidate(p, text, parent, step, origin, feedback_ids),
            lambda prompt: normalized(prompt.instruction) in known,  # ``deduplicate`` would drop it
            normalized,
        )


def _proposals(step, parent_id, kind, drafts, errors, tag, for_candidate) -> list[Proposal]:
    return [
        Proposal(str(ProposalId(step, for_candidate or parent_id, kind, tag, k)), step, kind, parent_id, d.text, errors, d.raw, d.parse_error,
                 for_candidate=for_candidate, truncated=d.truncated, errors_left_out=d.errors_left_out)
        for k, d in enumerate(drafts)
    ]


def _decision(p: Proposal, decisions) -> Decision:
    return decisions.get(p.id) or Decision(p.id, "reject", by="auto")


def _kept(proposals: Sequence[Proposal], decisions) -> KeptTexts:
    """Each proposal whose decision keeps a text, with that text (``Decision.keeps``)."""
    kept = []
    for p in proposals:
        text = _decision(p, decisions).keeps(p)
        if text is not None:
            kept.append((p, text))
    return kept


def _prompt(pid, text, parent, step, origin, feedback_ids) -> Prompt:
    return Prompt(pid, text.strip(), None, parent.id if parent else None, step, origin, tuple(feedback_ids))
