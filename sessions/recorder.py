"""Writes what the loop reports into a session store, as it happens."""
from __future__ import annotations

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
            case DecisionMade(decision=d) if not _same(self.known.get(d.proposal_id), d):
                s.add_decision(d)
                self.known[d.proposal_id] = d
            case StepDone(record=r):
                s.add_step(r)
                s.set_state({"step": r.step + 1, "phase": "start", "beam": list(r.beam)})
                s.flush()
            case PhaseStarted(step=step, phase=phase, detail=detail):
                s.set_phase({"step": step, "phase": phase, "detail": detail})

    def on_call(self, record: CallRecord) -> None:
        self.store.add_call(record)


def _same(known: Decision | None, new: Decision) -> bool:
    """The same decision, whenever it was made."""
    return known is not None and (known.kind, known.text, known.by) == (new.kind, new.text, new.by)
