"""What the loop reports as it works.  Observers (the session recorder, the
CLI's progress bar, the TUI) subscribe to these; the loop knows none of them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from reflectloop.core.types import Decision, Evaluation, Gate, Pick, Prompt, Proposal, StepRecord


@dataclass(frozen=True)
class PhaseStarted:
    step: int
    phase: str  # "init" | "evaluate" | "reflect" | "refine" | "demonstrate" | "select" | "test"
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    step: int
    label: str
    done: int
    total: int


@dataclass(frozen=True)
class PromptAdded:
    prompt: Prompt


@dataclass(frozen=True)
class EvaluationDone:
    step: int
    evaluation: Evaluation


@dataclass(frozen=True)
class ProposalMade:
    proposal: Proposal


@dataclass(frozen=True)
class DecisionMade:
    decision: Decision


@dataclass(frozen=True)
class EarlyScoring:
    """A candidate's scoring started at its acceptance, while the person
    reviews on (``core.step.overlap``), or stopped: its decision changed, or it
    duplicates a prompt.  The step's evaluation takes what was started."""

    prompt_id: str
    started: bool


@dataclass(frozen=True)
class Note:
    step: int
    text: str


@dataclass(frozen=True)
class StepDone:
    record: StepRecord
    beam: tuple[Prompt, ...]


# GEPA's search, as it happens (the step's record keeps the same picks and gates).
@dataclass(frozen=True)
class IterationStarted:
    """An iteration's parent, drawn from the Pareto front, and its minibatch (or why it is skipped)."""

    step: int
    pick: Pick


@dataclass(frozen=True)
class GateDecided:
    """A new candidate against its parent on the minibatch: accepted ones are scored on the whole dev set."""

    step: int
    gate: Gate


@dataclass(frozen=True)
class FrontUpdated:
    """The Pareto front after an iteration: member -> dev examples it is best on; ``best`` by mean."""

    step: int
    front: dict[str, int]
    best: str


Event = Union[
    PhaseStarted, Progress, PromptAdded, EvaluationDone, ProposalMade, DecisionMade, EarlyScoring, Note, StepDone,
    IterationStarted, GateDecided, FrontUpdated,
]
Emit = Callable[[Event], None]
