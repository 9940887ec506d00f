"""The TUI's own messages: small dataclasses posted between the loop's worker,
the reviewer and the widgets.

Messages posted to the screen that handles them do not bubble (a
``message_hook`` sees each once); the cards' messages bubble up to it.  The
loop's events (``core.events``) arrive as the ``*Arrived`` messages below,
made by :func:`from_event`; the reviewer asks for decisions with
``ReviewRequested`` / ``ReflectRequested``, each carrying the asyncio future
the screen resolves.  Progress updates replace each other in the queue
(``can_replace``), so a fast evaluation never floods the screen.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from textual.message import Message

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.events import (
    DecisionMade,
    EarlyScoring,
    Event,
    EvaluationDone,
    FrontUpdated,
    GateDecided,
    IterationStarted,
    Note,
    PhaseStarted,
    Progress,
    PromptAdded,
    ProposalMade,
    StepDone,
)
from reflectloop.core.review import ReflectRequest, ReviewRequest, ReviewResult
from reflectloop.core.types import Decision, Evaluation, Gate, Prompt, Proposal, StepRecord


# ------------------------------------------------------------ loop events
@dataclass
class PhaseChanged(Message, bubble=False):
    step: int
    phase: str
    detail: str = ""


@dataclass
class ProgressUpdated(Message, bubble=False):
    step: int
    label: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        # A newer progress report supersedes this one while both wait in the queue.
        return isinstance(message, ProgressUpdated)


@dataclass
class PromptArrived(Message, bubble=False):
    prompt: Prompt


@dataclass
class EvaluationArrived(Message, bubble=False):
    step: int
    evaluation: Evaluation


@dataclass
class ProposalArrived(Message, bubble=False):
    proposal: Proposal


@dataclass
class DecisionArrived(Message, bubble=False):
    decision: Decision


@dataclass
class EarlyScoringChanged(Message, bubble=False):
    """An accepted candidate's evaluation started while the person reviews on, or stopped."""

    prompt_id: str
    started: bool


@dataclass
class NoteArrived(Message, bubble=False):
    step: int
    text: str


@dataclass
class GateArrived(Message, bubble=False):
    """GEPA's gate on one candidate: shown under the candidate in its round (the note says it too)."""

    step: int
    gate: Gate


@dataclass
class StepFinished(Message, bubble=False):
    record: StepRecord
    beam: tuple[Prompt, ...]


def from_event(event: Event) -> Message | None:
    """The Textual message for one of the loop's events (None: shown by another)."""
    match event:
        case PhaseStarted(step=step, phase=phase, detail=detail):
            return PhaseChanged(step, phase, detail)
        case Progress(step=step, label=label, done=done, total=total):
            return ProgressUpdated(step, label, done, total)
        case PromptAdded(prompt=prompt):
            return PromptArrived(prompt)
        case EvaluationDone(step=step, evaluation=ev):
            return EvaluationArrived(step, ev)
        case ProposalMade(proposal=proposal):
            return ProposalArrived(proposal)
        case DecisionMade(decision=decision):
            return DecisionArrived(decision)
        case EarlyScoring(prompt_id=prompt_id, started=started):
            return EarlyScoringChanged(prompt_id, started)
        case Note(step=step, text=text):
            return NoteArrived(step, text)
        case StepDone(record=record, beam=beam):
            return StepFinished(record, beam)
        case IterationStarted(step=step, pick=pick):
            # A skipped iteration and every gate also arrive as notes, which say it already.
            return None if pick.skipped else NoteArrived(step, iteration_text(pick))
        case GateDecided(step=step, gate=gate):
            return GateArrived(step, gate)
        case FrontUpdated(step=step, front=front, best=best):
            return NoteArrived(step, front_text(front, best))
    raise TypeError(f"not a loop event: {event!r}")


def iteration_text(pick) -> str:
    which = f", proposal {pick.task + 1}" if pick.task else ""  # a round of several: which one
    return (f"iteration {pick.iteration}{which}: reflecting on {pick.parent_id} over the minibatch "
            f"{', '.join(pick.examples)}")


def front_text(front: dict[str, int], best: str) -> str:
    members = ", ".join(f"{pid} (best on {wins})" + (" ← best mean" if pid == best else "")
                        for pid, wins in sorted(front.items(), key=lambda kv: -kv[1]))
    return f"Pareto front: {members}"


# ------------------------------------------------------------- reviewing
@dataclass
class ReviewRequested(Message, bubble=False):
    """The reviewer waits on ``future`` for a ``ReviewResult``; ``known`` are
    decisions recorded before (a resumed, half-reviewed request)."""

    request: ReviewRequest
    known: dict[str, Decision]
    future: asyncio.Future[ReviewResult]


@dataclass
class ReflectRequested(Message, bubble=False):
    """Blind mode: the person's own reflection on ``request.errors`` first;
    the reviewer waits on ``future`` for the texts."""

    request: ReflectRequest
    future: asyncio.Future[tuple[str, ...]]


@dataclass
class QueuedReflectionUsed(Message, bubble=False):
    """Reflections typed outside a review went to this reflect point."""

    step: int
    parent_id: str
    texts: tuple[str, ...]


@dataclass
class DecisionChosen(Message):
    """A card's decision, for the screen to check and record."""

    decision: Decision


@dataclass
class GroupDone(Message):
    """The Done button of a review with nothing left to decide (no proposals)."""

    key: str


@dataclass
class RoundDone(Message):
    """The Done button of a GEPA round: its open reviews, decided, close together."""

    step: int
    iteration: int


@dataclass
class EditRequested(Message):
    """A card asks for its text to be edited; the screen opens the editor and
    hands the result back to the card (widgets do not know the screens)."""

    proposal_id: str


# ------------------------------------------------------------ the run
@dataclass
class RunOpened(Message, bubble=False):
    path: Path
    config: RunConfig
    resumed: bool
    records: tuple[StepRecord, ...] = ()
    mid_step: bool = False
    spent: dict = field(default_factory=dict)  # role -> Spent before this sitting (tui.screens.loop.spent)


@dataclass
class RunIdle(Message, bubble=False):
    """The worker stopped stepping: ``reason`` says why ("paused", "finished" ...)."""

    reason: str
    next_step: int = 0


@dataclass
class RunFailed(Message, bubble=False):
    error: str
    stopped: bool = False  # True: a clean stop (the budget), not a failure


# ------------------------------------------------------------ start screen
@dataclass
class RunRequested(Message):
    config: RunConfig
    blind: bool = False
    replace: bool = False  # True: instead of the current loop screen


@dataclass
class SessionChosen(Message):
    path: Path


@dataclass
class SessionsListed(Message, bubble=False):
    summaries: list[dict] = field(default_factory=list)
