"""Writes what the loop reports into a session store, as it happens."""
from __future__ import annotations

from contextvars import ContextVar
from typing import Mapping

from reflectloop.core.events import (
    DecisionMade,
    Event,
    EvaluationDone,
    PhaseStarted,
    PromptAdded,
    ProposalMade,
    StepDone,
)
from reflectloop.core.types import CallRecord, Decision


# Where the log ended after the last record the current task (and the task
# that started it) wrote: what its next request waits to see fsynced.
_RECORDED: ContextVar[int] = ContextVar("recorded", default=0)


class Recorder:
    """Subscribe it to the loop (``emit``) and to both models (``on_call``).

    ``known``: the decisions the session already holds.  A resumed step
    replays them through the loop's seam; writing them again would cost an
    fsync each and add nothing (a replayed human text would even get a new
    time), so only new or changed decisions are written."""

    def __init__(self, store, known: Mapping[str, Decision] | None = None):
        self.store = store
        self.known = dict(known or {})

    def __call__(self, event: Event) -> None:
        s = self.store
        match event:
            case PromptAdded(prompt=p):
                s.add_prompt(p)
            case EvaluationDone(step=step, evaluation=ev):
                s.add_evaluation(step, ev)
            case ProposalMade(proposal=p):
                s.add_proposal(p)
                if p.author == "human":
                    s.flush()  # a person's text: fsynced before anything goes on
            case DecisionMade(decision=d) if not _same(self.known.get(d.proposal_id), d):
                s.add_decision(d)
                self.known[d.proposal_id] = d
                if d.by == "human":
                    s.flush()
            case StepDone(record=r):
                s.add_step(r)
                s.set_state({"step": r.step + 1, "phase": "start", "beam": list(r.beam)})
                s.flush()
            case PhaseStarted(step=step, phase=phase, detail=detail):
                s.set_phase({"step": step, "phase": phase, "detail": detail})
                return  # nothing written
            case _:
                return
        _RECORDED.set(s.written)

    def on_call(self, record: CallRecord) -> None:
        self.store.add_call(record)

    async def synced(self) -> None:
        """The models' ``before_send``: what the requesting task's own line of
        work recorded (the records it and the tasks that started it wrote) is
        fsynced before its request leaves; other tasks' records do not hold it up."""
        if self.store is not None:
            await self.store.synced(_RECORDED.get())


def _same(known: Decision | None, new: Decision) -> bool:
    """The same decision, whenever it was made."""
    return known is not None and (known.kind, known.text, known.by) == (new.kind, new.text, new.by)
