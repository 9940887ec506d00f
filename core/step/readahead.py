"""Read-ahead: the next step's first optimizer calls, asked while this step's
test evaluation runs.

A step ends by scoring its best prompt on the test set: hundreds of target
calls that only report (the search never reads a test score).  The next step
opens with a round of optimizer calls, one per parent (the reflection; for a
method that writes no feedback, its refinement), whose requests depend on
nothing but what this step kept and their dev evaluations: not on the test
score, not on anything a person decides.  Asked alongside the test
evaluation, they take slots it leaves idle, and the next step's first cards
are ready the moment it begins instead of a round trip later.  When the
reviewer decides by the proposals alone (the auto-reviewer of a headless run,
``foresee``), the refinement that follows its decisions is asked ahead too,
and the next step opens with its candidates' evaluations.

Nothing changes but when the calls are made.  A next step takes an answer
only for the very request it would make (the same context, the same kept
feedback) and asks again otherwise; a read-ahead that failed is asked again
too, so its error (or the budget's refusal) surfaces where it would have.
What the calls spent is metered apart (``core.llm.pricing.metering``) and
counted in the next step's record.  In blind mode (a reviewer that
``asks_first``) nothing is read ahead: the person writes their reflection
before the LLM's exists.  Blind mode switched on between steps finds the next
reflection asked already, but unseen.
"""
from __future__ import annotations

import asyncio
from contextvars import copy_context
from functools import partial
from typing import Any, Callable, Coroutine, Sequence

from reflectloop.core.llm.pricing import Meter, metering
from reflectloop.core.methods.base import StepContext
from reflectloop.core.methods.parsing import Draft

# What one answer is for: (focus tag, "reflect" | "refine", the feedback texts it refines from).
Key = tuple[str, str, tuple[str, ...]]


class ReadAhead:
    """The answers asked ahead for one step, per parent and ``Key``."""

    def __init__(self) -> None:
        self.meter = Meter()  # what the calls asked here spent, on the next step's behalf
        self._asked: dict[tuple[str, Key], tuple[StepContext, asyncio.Task]] = {}

    def __len__(self) -> int:
        return len(self._asked)

    @classmethod
    def start(cls, contexts: Sequence[tuple[StepContext, str]], method,
              foresee: Callable[..., tuple[str, ...] | None]) -> ReadAhead | None:
        """Ask each (context, focus tag)'s first call: the reflection, then the
        refinement from the feedback ``foresee`` says the review will keep
        (``ReviewPoints.foreseen_feedback``); for a method that writes no
        feedback, the refinement.  None: nothing to ask."""
        ahead = cls()

        async def reflect_then_refine(ctx: StepContext, tag: str) -> list[Draft]:
            drafts = await method.reflect(ctx)
            texts = foresee(ctx.step, ctx.parent, ctx.errors, drafts, tag)
            if texts:
                ahead.ask(ctx, (tag, "refine", texts), lambda: method.refine(ctx, texts))
            return drafts

        for ctx, tag in contexts:
            if method.reflects:
                ahead.ask(ctx, (tag, "reflect", ()), partial(reflect_then_refine, ctx, tag))
            else:
                ahead.ask(ctx, (tag, "refine", ()), partial(method.refine, ctx, ()))
        return ahead if len(ahead) else None

    def ask(self, ctx: StepContext, key: Key, call: Callable[[], Coroutine[Any, Any, list[Draft]]]) -> None:
        """Start ``call`` (metered); a call may ask the one that follows it."""
        context = copy_context()
        context.run(metering.set, self.meter)
        task = asyncio.get_running_loop().create_task(call(), context=context)
        self._asked[(ctx.parent.id, key)] = (ctx, task)

    async def settle(self) -> None:
        """Wait until every call has answered or failed, those asked meanwhile
        included (a failure is asked again by the next step, not raised here)."""
        while pending := [task for _, task in self._asked.values() if not task.done()]:
            await asyncio.wait(pending)
        for _, task in self._asked.values():
            if not task.cancelled():
                task.exception()  # retrieved: a failure is handled by asking again, not reported as lost

    def cancel(self) -> None:
        for _, task in self._asked.values():
            task.cancel()
        self._asked.clear()

    async def take(self, ctx: StepContext, key: Key) -> list[Draft] | None:
        """The answer asked for this very context and key, once; None: ask now."""
        asked = self._asked.get((ctx.parent.id, key))
        if asked is None or asked[0] != ctx:  # a context holds its step
            return None
        task = self._asked.pop((ctx.parent.id, key))[1]
        if task.cancelled():
            return None
        try:
            return await task
        except Exception:  # noqa: BLE001 - asked again by the caller, where a failure belongs
            return None
