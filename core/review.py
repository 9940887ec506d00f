"""The seam between the loop and whoever decides: a person in the TUI, the
headless auto-reviewer, or a test script.

The loop hands a ``ReviewRequest`` (the proposals of one kind for one parent,
with the error set they answer) to a ``Reviewer`` and gets a ``ReviewResult``
back: a decision per proposal and any texts the reviewer adds of their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from reflectloop.core.types import Decision, ErrorCase, Prompt, Proposal, ProposalId, ProposalKind


@dataclass(frozen=True)
class ReviewRequest:
    step: int
    kind: ProposalKind
    parent: Prompt | None  # None for the initial prompts of step 0
    errors: tuple[ErrorCase, ...]
    proposals: tuple[Proposal, ...]
    allow_add: bool  # feedback and candidates accept the reviewer's own texts
    context: str = ""  # the implicit reflection of methods without feedback (OPRO's trajectory)
    # The loop's recorder: a reviewer that decides card by card (a person) calls it with each
    # decision as it is made, so it is durable at once; the loop records the rest from the result.
    record: Callable[[Decision], None] = field(default=lambda d: None, compare=False, repr=False)


@dataclass(frozen=True)
class ReviewResult:
    decisions: Mapping[str, Decision]  # proposal id -> decision (accept/edit/reject)
    added: tuple[str, ...] = ()  # the reviewer's own feedback or candidates


@dataclass(frozen=True)
class ReflectRequest:
    """Asked before the LLM's reflection exists (blind mode): the reviewer may
    write their own reflection on the error set, independently."""

    step: int
    parent: Prompt
    errors: tuple[ErrorCase, ...]


class Reviewer(Protocol):
    """Whoever decides.  ``reflect_first`` and ``review`` are each
    reviewer's own; the optional hooks have defaults, which a reviewer
    inherits by subclassing this protocol (the loop calls them on every one):

    - ``asks_first``: the reviewer may ask a person for their reflection
      before the LLM's exists (blind mode); the loop then asks nothing of the
      LLM's reflection ahead (``core.step.readahead``).  Default: False.
    - ``foresee(request)``: the review's result when the decisions follow
      from the proposals alone, so the loop may act on them ahead; None (the
      default): only the review can tell."""

    @property
    def asks_first(self) -> bool:
        return False

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]: ...

    async def review(self, request: ReviewRequest) -> ReviewResult: ...

    def foresee(self, request: ReviewRequest) -> ReviewResult | None:
        return None


class AutoReviewer(Reviewer):
    """Accepts every LLM proposal with usable text.  Output that was taken
    whole for lack of tags is accepted too (its parse error stays recorded);
    empty output is rejected.  ``strict`` rejects every parse failure."""

    by = "auto"

    def __init__(self, strict: bool = False):
        self.strict = strict

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]:
        return ()

    def accepts(self, p: Proposal) -> bool:
        return bool(p.text.strip()) and not (self.strict and p.parse_error)

    async def review(self, request: ReviewRequest) -> ReviewResult:
        return self.foresee(request)

    def foresee(self, request: ReviewRequest) -> ReviewResult:
        """The review's result, known without asking: it follows from the proposals alone."""
        decisions = {
            p.id: Decision(p.id, "accept" if self.accepts(p) else "reject", by=self.by)
            for p in request.proposals
        }
        return ReviewResult(decisions)


@dataclass
class ReplayReviewer(Reviewer):
    """Resuming a session: decisions already recorded are replayed, the rest
    go to the live reviewer.  Proposal ids are deterministic, so a resumed
    step re-proposes the same ids."""

    live: Reviewer
    decisions: dict[str, Decision]
    human: dict[tuple[int, str, str], list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    # (step, parent id, kind) -> [(group tag, the person's texts in it)], in the order they were written:
    # one parent may be reviewed several times in a step (the LLM's and the person's feedback groups,
    # GEPA's iterations), and each review gets back only its own texts (by ``ProposalId.tag``).

    @property
    def asks_first(self) -> bool:  # the live reviewer's, past the replayed decisions
        return self.live.asks_first

    def _pop(self, key: tuple[int, str, str], tag: str | None) -> tuple[str, ...]:
        groups = self.human.get(key, [])
        at = next((i for i, (t, _) in enumerate(groups) if tag is None or t == tag), None)
        return groups.pop(at)[1] if at is not None else ()

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]:
        key = (request.step, request.parent.id, "feedback")
        if self.human.get(key):
            return self._pop(key, None)  # reflections come one review after another: the earliest first
        return await self.live.reflect_first(request)

    async def review(self, request: ReviewRequest) -> ReviewResult:
        ids = [p.id for p in request.proposals]
        if ids and all(i in self.decisions for i in ids):
            parent = request.parent.id if request.parent else "task"
            added = self._pop((request.step, parent, request.kind), ProposalId.parse(ids[0]).tag)
            return ReviewResult({i: self.decisions[i] for i in ids}, added)
        return await self.live.review(request)
