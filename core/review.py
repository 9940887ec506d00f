"""The seam between the loop and whoever decides: a person in the TUI, the
headless auto-reviewer, or a test script.

The loop hands a ``ReviewRequest`` (the proposals of one kind for one parent,
with the error set they answer) to a ``Reviewer`` and gets a ``ReviewResult``
back: a decision per proposal and any texts the reviewer adds of their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from core.types import Decision, ErrorCase, Prompt, Proposal, ProposalKind


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
    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]: ...

    async def review(self, request: ReviewRequest) -> ReviewResult: ...


class AutoReviewer:
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
        decisions = {
            p.id: Decision(p.id, "accept" if self.accepts(p) else "reject", by=self.by)
            for p in request.proposals
        }
        return ReviewResult(decisions)


@dataclass
class ReplayReviewer:
    """Resuming a session: decisions already recorded are replayed, the rest
    go to the live reviewer.  Proposal ids are deterministic, so a resumed
    step re-proposes the same ids."""

    live: Reviewer
    decisions: dict[str, Decision]
    human: dict[tuple[int, str, str], tuple[str, ...]] = field(default_factory=dict)
    # (step, parent id, kind) -> human texts recorded for it, in order

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]:
        key = (request.step, request.parent.id, "feedback")
        if key in self.human:
            return self.human.pop(key)
        return await self.live.reflect_first(request)

    async def review(self, request: ReviewRequest) -> ReviewResult:
        ids = [p.id for p in request.proposals]
        if ids and all(i in self.decisions for i in ids):
            parent = request.parent.id if request.parent else "task"
            added = self.human.pop((request.step, parent, request.kind), ())
            return ReviewResult({i: self.decisions[i] for i in ids}, added)
        return await self.live.review(request)
