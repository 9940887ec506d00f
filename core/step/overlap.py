"""Overlap with the person: a candidate starts its evaluation the moment it is accepted.

A person reviews a step's candidate cards one at a time.  Without overlap
the machine idles while they read, and they wait while every accepted
candidate is evaluated after the last card.  While a review of candidates
is open (``watch``), the overlap listens to the loop's ``DecisionMade``
events: a decision that keeps a candidate's text (``Decision.keeps``)
starts, at once, its scoring on the examples the selection scores it on
first (the whole dev set under full evaluation, the race's first batch
under adaptive).  When the scoring comes, it takes what was started instead
of asking again: nothing runs twice, whether or not the response cache is
on.  What it starts and stops it reports (``EarlyScoring``), so that what is
shown running is what runs.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Sequence

from reflectloop.core.events import DecisionMade, EarlyScoring, Emit, Event
from reflectloop.core.types import Decision, Evaluation, Example, ExampleResult, Proposal, Prompt, TaskScorer

RunOne = Callable[[Prompt, Example], Awaitable[ExampleResult]]


@dataclass(frozen=True)
class _Watched:
    """A candidate of an open review, and how its acceptance starts it."""

    proposal: Proposal
    examples: Sequence[Example]  # what it is scored on first
    candidate: Callable[[Proposal, str], Prompt]  # its prompt, from the proposal and the kept text
    dropped: Callable[[Prompt], bool]  # the loop will drop this prompt (a duplicate of an earlier one)
    key: Callable[[str], str]  # the form in which two instructions are the same


class EarlyStarts:
    """Scorings started ahead of the evaluation that will want them, per prompt."""

    def __init__(self, run_one: RunOne, emit: Emit):
        self._run_one = run_one
        self._emit = emit
        self._started: dict[str, tuple[Prompt, dict[str, asyncio.Task]]] = {}
        self._watched: dict[str, _Watched] = {}  # proposal id -> its open review's terms

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
        self._emit(EarlyScoring(prompt.id, True))

    def cancel(self, prompt_id: str) -> None:
        if prompt_id not in self._started:
            return
        _, tasks = self._started.pop(prompt_id)
        _settle(tasks.values())
        self._emit(EarlyScoring(prompt_id, False))

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

    def watch(self, proposals: Sequence[Proposal], examples: Sequence[Example],
              candidate: Callable[[Proposal, str], Prompt], dropped: Callable[[Prompt], bool],
              key: Callable[[str], str]) -> None:
        """A review of these candidates is open: a decision on one that keeps
        its text starts it on ``examples``; a rejection, an undo or a prompt
        the loop will drop as a duplicate (``dropped``, or the same ``key`` as
        one started) starts nothing, and stops what was started."""
        for p in proposals:
            self._watched[p.id] = _Watched(p, examples, candidate, dropped, key)

    def unwatch(self, proposals: Sequence[Proposal]) -> None:
        """The review is over: its later decisions (those of its result) start nothing."""
        for p in proposals:
            self._watched.pop(p.id, None)

    def heard(self, event: Event) -> None:
        """The loop's events: a decision on a watched candidate starts or stops its scoring."""
        if isinstance(event, DecisionMade) and event.decision.proposal_id in self._watched:
            self._decided(self._watched[event.decision.proposal_id], event.decision)

    def _decided(self, w: _Watched, decision: Decision) -> None:
        text = decision.keeps(w.proposal)
        prompt = w.candidate(w.proposal, text) if text is not None else None
        twin = prompt is not None and any(
            w.key(o.instruction) == w.key(prompt.instruction) for o in self.prompts() if o.id != prompt.id)
        if prompt is None or twin or w.dropped(prompt):
            self.cancel(w.proposal.id)
        else:
            self.start(prompt, w.examples)

    def clear(self) -> None:
        """End of a step: what nobody took (a duplicate dropped later) is stopped."""
        self._watched.clear()
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
