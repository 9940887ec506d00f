"""A proposal's decision history, and which decision stands.

Decisions are only ever appended.  An ``undo`` decision withdraws the most
recent standing decision *of the same annotator* on the same proposal (a
stack per proposal and annotator: undo pops, any other kind pushes); after
it the proposal is undecided by that annotator until they decide again.
Nothing is erased, so the history stays auditable.

``SessionStore.decisions()`` is "last wins" per proposal, which would return
an ``undo`` itself, and keeps one annotator per proposal: readers that need
the current decision (exports, the audit, agreement, resuming) use
:func:`current_decisions` or :func:`standing` instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from reflectloop.core.types import Decision


@dataclass(frozen=True)
class Entry:
    """One decision of a proposal's history and whether it still stands."""

    decision: Decision
    stands: bool
    undone_by: int | None = None  # index (in the history) of the undo that withdrew it


def decision_log(store) -> list[Decision]:
    """Every decision of the session in the order written, undos included."""
    return store.decision_log()


def history(log: Iterable[Decision], proposal_id: str) -> list[Entry]:
    """The decisions on one proposal, oldest first, each marked standing or withdrawn."""
    decisions = [d for d in log if d.proposal_id == proposal_id]
    stacks: dict[str, list[int]] = {}
    undone: dict[int, int] = {}
    for k, d in enumerate(decisions):
        stack = stacks.setdefault(d.annotator, [])
        if d.kind != "undo":
            stack.append(k)
        elif stack:
            undone[stack.pop()] = k
    standing = {k for stack in stacks.values() for k in stack}
    return [Entry(d, k in standing, undone.get(k)) for k, d in enumerate(decisions)]


def standing(log: Iterable[Decision]) -> dict[tuple[str, str], Decision]:
    """(proposal id, annotator) -> that annotator's current decision, for
    every pair with one; in the order the standing decisions were written."""
    stacks: dict[tuple[str, str], list[Decision]] = {}
    for d in log:
        stack = stacks.setdefault((d.proposal_id, d.annotator), [])
        if d.kind != "undo":
            stack.append(d)
        elif stack:
            stack.pop()
    return {key: stack[-1] for key, stack in stacks.items() if stack}


def current(log: Iterable[Decision], annotator: str | None = None) -> dict[str, Decision]:
    """Proposal id -> its current decision: ``annotator``'s, or (None) the
    latest standing decision of anyone, which for a one-person session is
    that person's."""
    log = list(log)
    order = {id(d): k for k, d in enumerate(log)}
    out: dict[str, Decision] = {}
    for (pid, who), d in sorted(standing(log).items(), key=lambda item: order[id(item[1])]):
        if annotator is None or who == annotator:
            out[pid] = d
    return out


def current_decisions(store, annotator: str | None = None) -> dict[str, Decision]:
    """:func:`current` of a session's decision log."""
    return current(decision_log(store), annotator)

