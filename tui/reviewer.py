"""The person at the terminal as a ``core.review.Reviewer``.

The loop runs in a Textual worker and calls ``review()`` / ``reflect_first()``
there.  Each call posts a message to the screen carrying an asyncio future and
awaits it; the screen's review desk hands each decision (and each undo) to the
loop's recorder as it is made (``ReviewRequest.record``) and resolves the
future with the whole result once the person is done with the request (every
card decided, then Done or moving on; or the reflection typed).  Nothing else
passes between the two.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from textual.message import Message

from reflectloop.core.review import AutoReviewer, ReflectRequest, Reviewer, ReviewRequest, ReviewResult
from reflectloop.core.types import Decision
from reflectloop.tui.messages import QueuedReflectionUsed, ReflectRequested, ReviewRequested


class TuiReviewer(Reviewer):
    by = "human"

    def __init__(self, post: Callable[[Message], object]):
        self.post = post
        self.blind = False  # ask for the person's reflection before the LLM's
        self.auto = False  # accept the rest without asking
        self.known: Mapping[str, Decision] = {}  # decisions recorded before (resume)
        self.queued: list[str] = []  # reflections typed while no review was open
        self._auto = AutoReviewer()

    @property
    def asks_first(self) -> bool:
        """Blind mode: the person is asked for their reflection before the LLM's exists."""
        return self.blind and not self.auto

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]:
        if self.queued:
            texts, self.queued = tuple(self.queued), []
            self.post(QueuedReflectionUsed(request.step, request.parent.id, texts))
            return texts
        if not self.asks_first:
            return ()
        future: asyncio.Future[tuple[str, ...]] = asyncio.get_running_loop().create_future()
        self.post(ReflectRequested(request, future))
        return tuple(await future)

    async def review(self, request: ReviewRequest) -> ReviewResult:
        known = {p.id: self.known[p.id] for p in request.proposals if p.id in self.known}
        if request.proposals and len(known) == len(request.proposals):
            return ReviewResult(known)
        if self.auto:
            result = await self._auto.review(request)
            return ReviewResult({**result.decisions, **known})
        future: asyncio.Future[ReviewResult] = asyncio.get_running_loop().create_future()
        self.post(ReviewRequested(request, known, future))
        return await future
