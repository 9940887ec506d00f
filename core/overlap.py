"""Overlap with the person: a candidate starts its evaluation the moment it is accepted.

A person reviews a step's candidate cards one at a time.  Without overlap
the machine idles while they read, and they wait while every accepted
candidate is evaluated after the last card.  The loop wraps the review's
``record`` so that an accept or edit of a candidate starts, at once, its
scoring on the examples the selection scores it on first (the whole dev set
under full evaluation, the race's first batch under adaptive).  When the
scoring comes, it takes what was started instead of asking again: nothing
runs twice, whether or not the response cache is on.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Mapping, Sequence

from core.types import Decision, Evaluation, Example, ExampleResult, Proposal, Prompt, TaskScorer

RunOne = Callable[[Prompt, Example], Awaitable[ExampleResult]]


class EarlyStarts:
    """Scorings started ahead of the evaluation that will want them, per prompt."""

    def __init__(self, run_one: RunOne):
        self._run_one = run_one
        self._started: dict[str, tuple[Prompt, dict[str, asyncio.Task]]] = {}

    def __contains__(self, prompt_id: str) -> bool:
        return prompt_id in self._started

    def prompts(self) -> list[Prompt]:
        return [prompt for prompt, _ in self._started.values()]

    def start(self, prompt: Prompt, examples: Sequence[Example]) -> None:
        """Start scoring ``prompt`` on ``examples``; a prompt started already
        with other content (the person changed their decision) starts over."""
        if prompt.id in self._started and self._started[prompt.id][0] == prompt:
            return
        self.cancel(prompt.id)
        tasks = {e.id: asyncio.ensure_future(self._run_one(prompt, e)) for e in examples}
        self._started[prompt.id] = (prompt, tasks)

    def cancel(self, prompt_id: str) -> None:
        _, tasks = self._started.pop(prompt_id, (None, {}))
        _settle(tasks.values())

    async def take(self, prompt: Prompt, examples: Sequence[Example]) -> Mapping[str, ExampleResult]:
        """What was started for this very prompt on these examples, awaited;
        the rest is the caller's to run.  A prompt that differs from the one
        started (a demonstration added since) takes nothing."""
        started = self._started.get(prompt.id)
        if started is None or started[0] != prompt:
            return {}
        tasks = started[1]
        wanted = [e.id for e in examples if e.id in tasks]
        results = await asyncio.gather(*(tasks.pop(i) for i in wanted))
        if not tasks:
            del self._started[prompt.id]
        return dict(zip(wanted, results))

    def starting(self, record: Callable[[Decision], None], proposals: Sequence[Proposal],
                 examples: Sequence[Example], candidate: Callable[[Proposal, str], Prompt],
                 dropped: Callable[[Prompt], bool], key: Callable[[str], str]) -> Callable[[Decision], None]:
        """``record`` that also starts each accepted candidate (``candidate``
        builds its prompt from the proposal and the kept text) on ``examples``;
        a rejection, an undo or a prompt the loop will drop as a duplicate
        (``dropped``, or the same ``key`` as one started) starts nothing."""
        by_id = {p.id: p for p in proposals}

        def recorded(decision: Decision) -> None:
            record(decision)
            p = by_id.get(decision.proposal_id)
            if p is None:
                return
            text = {"accept": p.text, "edit": decision.text}.get(decision.kind)
            prompt = candidate(p, text) if text and text.strip() else None
            twin = prompt is not None and any(
                key(o.instruction) == key(prompt.instruction) for o in self.prompts() if o.id != prompt.id)
            if prompt is None or twin or dropped(prompt):
                self.cancel(p.id)
            else:
                self.start(prompt, examples)

        return recorded

    def clear(self) -> None:
        """End of a step: what nobody took (a duplicate dropped later) is stopped."""
        for prompt_id in list(self._started):
            self.cancel(prompt_id)


def _settle(tasks) -> None:
    for task in tasks:
        if task.done():
            if not task.cancelled():
                task.exception()  # retrieved, so an unused failure is not reported as lost
        else:
            task.cancel()


def merged(ev: Evaluation, early: Mapping[str, ExampleResult], examples: Sequence[Example],
           scorer: TaskScorer) -> Evaluation:
    """``ev`` (the examples run late) with the results started early, in ``examples``' order."""
    got = {**early, **{r.example_id: r for r in ev.results}}
    results = tuple(got[e.id] for e in examples)
    return Evaluation(ev.prompt_id, ev.split, results, scorer.aggregate(examples, results))
