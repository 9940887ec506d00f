"""Overlap with the person: an accepted candidate is scored while the person
is still reviewing, and nothing is asked of the target twice."""
from __future__ import annotations

import asyncio

import pytest

from reflectloop.core.llm.cache import NullCache
from reflectloop.core.review import AutoReviewer, Reviewer, ReviewResult
from reflectloop.core.types import Decision
from reflectloop.sessions.service import open_run
from reflectloop.sessions.store import SessionStore
from tests.test_adaptive_loop import DEV, config, injector


class CardByCard(Reviewer):
    """Decides each card through ``request.record``, as the TUI does, and
    before the next card lets the loop run until the accepted candidate's
    first scoring has reached the target (or the loop has nothing left to run)."""

    def __init__(self, providers):
        self.providers = providers
        self.started: dict[str, int] = {}  # candidate text -> target requests made for it during review

    async def reflect_first(self, request):
        return ()

    async def review(self, request):
        decisions = {}
        for p in request.proposals:
            decisions[p.id] = d = Decision(p.id, "accept", by="person")
            request.record(d)
            if request.kind == "candidate" and p.step > 0:
                self.started[p.text] = await self._asked(p.text)
        return ReviewResult(decisions, ())

    async def _asked(self, text: str, settle: int = 2000) -> int:
        count = 0
        for _ in range(settle):  # the loop's tasks run between these yields; no clock involved
            await asyncio.sleep(0)
            count = sum(text in prompt for prompt in self.providers["target"].prompts)
        return count


async def run(path, cfg, reviewer_of):
    inject, providers = injector(NullCache(), [False])  # no cache: a repeat would be a real call
    session = open_run(cfg, reviewer_of(providers), session=path, injected=inject)
    try:
        await session.drive()
    finally:
        await session.close()
    return providers, session.loop.reviewer


@pytest.mark.parametrize("evaluation,first", [("full", DEV), ("adaptive", 4)])
async def test_an_accepted_candidate_is_scored_during_review_and_never_twice(tmp_path, evaluation, first):
    cfg = config(evaluation=evaluation)
    plain, _ = await run(tmp_path / "plain.session", cfg, lambda providers: AutoReviewer())
    overlapped, person = await run(tmp_path / "overlap.session", cfg, CardByCard)

    # Each accepted candidate's first scoring (the whole dev set, or the race's
    # first batch) went out while the person was still on the cards.
    assert len(person.started) == 8 and set(person.started.values()) == {first}
    # The same requests as a run without overlap, each once.
    assert sorted(overlapped["target"].prompts) == sorted(plain["target"].prompts)
    with SessionStore.open(tmp_path / "plain.session", read_only=True) as a, \
            SessionStore.open(tmp_path / "overlap.session", read_only=True) as b:
        assert [(r.beam, r.dev_scores, r.test) for r in a.steps()] == [(r.beam, r.dev_scores, r.test) for r in b.steps()]
