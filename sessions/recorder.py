"""Writes what the loop reports into a session store, as it happens."""
from __future__ import annotations

from core.events import (
    DecisionMade,
    Event,
    EvaluationDone,
    PhaseStarted,
    PromptAdded,
    ProposalMade,
    StepDone,
)
from core.types import CallRecord


class Recorder:
    """Subscribe it to the loop (``emit``) and to both models (``on_call``)."""

    def __init__(self, store):
        self.store = store

    def __call__(self, event: Event) -> None:
        s = self.store
        match event:
            case PromptAdded(prompt=p):
                s.add_prompt(p)
            case EvaluationDone(step=step, evaluation=ev):
                s.add_evaluation(step, ev)
            case ProposalMade(proposal=p):
                s.add_proposal(p)
            case DecisionMade(decision=d):
                s.add_decision(d)
            case StepDone(record=r):
                s.add_step(r)
                s.set_state({"step": r.step + 1, "phase": "start", "beam": list(r.beam)})
                s.flush()
            case PhaseStarted(step=step, phase=phase, detail=detail):
                s.set_state({"step": step, "phase": phase, "detail": detail})

    def on_call(self, record: CallRecord) -> None:
        self.store.add_call(record)
