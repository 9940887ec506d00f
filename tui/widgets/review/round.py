"""A GEPA iteration in the transcript: its proposals side by side, one
column each (the pick's feedback, then its candidate, each a review group of
its own), and under each column the gate's decision on that candidate once
the round is gated.  A sequential run's iteration is a round of one column.

The person reviews a round as one: the open reviews of one phase (the
feedback of every column, then the candidates of every column) close with
the round's one Done (the desk decides when: ``tui.screens.loop.desk``), so
the columns' own groups show no Done button of their own.

Which round and column a proposal belongs to is in its id's tag: ``i3.`` is
iteration 3's first proposal, ``i3.2.`` its third (``hf`` after either: the
candidates refined from a person's own feedback, in the same column)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Static

from reflectloop.core.types import Gate, Proposal, ProposalId
from reflectloop.tui.messages import RoundDone
from reflectloop.tui.widgets.review.group import PLURAL
from reflectloop.tui.widgets.text import clean

_ROUND = re.compile(r"i(\d+)\.(?:(\d+)\.)?")


def round_of(p: Proposal) -> tuple[int, int, int] | None:
    """(step, iteration, column) of a GEPA proposal; None for any other."""
    match = _ROUND.match(ProposalId.parse(p.id).tag)
    return (p.step, int(match[1]), int(match[2] or 0)) if match else None


@dataclass(frozen=True)
class RoundPhase:
    """One phase of a round with reviews open: its cards numbered left to right
    across the columns (the numbers the status bar's ``card i/N`` gives)."""

    step: int
    iteration: int
    kind: str
    total: int  # cards in the phase's open reviews
    reviews: int
    columns: int  # the proposals they belong to (a column may hold two: the candidates from your own feedback)
    left: tuple[tuple[int, int], ...]  # the undecided cards: (number from 1, column from 0)
    addable: bool = False  # the person's own texts are taken until Done

    def left_text(self) -> str:
        """``card 2/6 (proposal 1), card 5/6 (proposal 2)``."""
        return ", ".join(f"card {n}/{self.total} (proposal {k + 1})" for n, k in self.left)

    def refusal(self) -> str:
        """Done refused: which cards of the phase are undecided."""
        return (f"GEPA round (step {self.step}, iteration {self.iteration}), its {PLURAL.get(self.kind, self.kind)}: "
                f"{self.left_text()} still undecided, so none of the {self.reviews} review(s) is closed")


class RoundColumn(Vertical):
    """One proposal of a round: its review groups, then its gate."""

    def __init__(self, column: int) -> None:
        super().__init__(classes="round-column")
        self.column = column
        self.gate: Gate | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"proposal {self.column + 1}", style="bold dim"), classes="round-column-title")
        yield Vertical(classes="round-column-groups")
        yield Static("", classes="round-gate")

    async def add(self, group: Widget) -> None:
        await self.query_one(".round-column-groups", Vertical).mount(group)

    def show_gate(self, gate: Gate) -> None:
        self.gate = gate
        verdict = "accepted: scored on the whole dev set" if gate.accepted else "rejected"
        style = "bold green" if gate.accepted else "bold red" if not gate.dropped else "bold yellow"
        text = Text.assemble(("gate · ", "dim"), (verdict, style), "\n", (clean(gate.candidate_id), "dim"), "\n",
                             clean(gate.reason))
        self.query_one(".round-gate", Static).update(text)
        self.set_class(gate.accepted, "-accepted")


class RoundGroup(Vertical):
    """One iteration's proposals, reviewed side by side."""

    def __init__(self, step: int, iteration: int) -> None:
        super().__init__(classes="chat round-group")
        self.step = step
        self.iteration = iteration
        self.columns: dict[int, RoundColumn] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text(f"step {self.step} · GEPA iteration {self.iteration}", style="bold"), classes="round-title")
        yield Horizontal(classes="round-columns")
        yield Static("", classes="round-count")
        yield Button("Done", name="done", compact=True, classes="round-done", disabled=True)

    def show_open(self, phases: list[RoundPhase]) -> None:
        """What the round's open reviews have left; its Done shown while any is open
        (pressed with cards undecided, it says which and closes nothing)."""
        count = Text()
        for phase in phases:
            if count:
                count.append("\n")
            decided = phase.total - len(phase.left)
            label = f"{PLURAL.get(phase.kind, phase.kind)} of {phase.columns} proposal(s)"
            count.append(f"{label}: {decided} of {phase.total} decided", style="bold" if phase.left else "bold green")
            if phase.left:
                count.append(f" · left: {phase.left_text()}", style="yellow")
            else:
                what = f"the {phase.reviews} reviews together" if phase.reviews > 1 else "the review"
                count.append(f" · d (Done) closes {what}" + (", after any text of your own" if phase.addable else ""),
                             style="italic")
        self.query_one(".round-count", Static).update(count)
        self.set_class(bool(phases), "-open")
        button = self.done_button
        button.disabled = not phases
        button.set_class(bool(phases), "-shown")
        button.can_focus = bool(phases)

    @property
    def done_button(self) -> Button:
        return self.query_one(".round-done", Button)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.name == "done":
            event.stop()
            self.post_message(RoundDone(self.step, self.iteration))

    async def column(self, k: int) -> RoundColumn:
        if k not in self.columns:
            self.columns[k] = column = RoundColumn(k)
            row = self.query_one(".round-columns", Horizontal)
            later = [c for i, c in sorted(self.columns.items()) if i > k]  # in plan order, whenever they arrive
            await (row.mount(column, before=later[0]) if later else row.mount(column))
        return self.columns[k]

    def show_gate(self, gate: Gate) -> bool:
        column = self.columns.get(gate.task)
        if column is None:
            return False
        column.show_gate(gate)
        return True


class Rounds:
    """The transcript's GEPA rounds: where a proposal's review group goes, and each gate."""

    def __init__(self) -> None:
        self.rounds: dict[tuple[int, int], RoundGroup] = {}
        self.shown: set[tuple[int, int]] = set()  # the rounds showing open reviews

    async def place(self, transcript: Widget, group: Widget, proposal: Proposal) -> bool:
        """Mount ``group`` in its round's column; False: not a GEPA proposal (the caller mounts it)."""
        where = round_of(proposal)
        if where is None:
            return False
        step, iteration, k = where
        holder = self.rounds.get((step, iteration))
        if holder is None:
            holder = self.rounds[(step, iteration)] = RoundGroup(step, iteration)
            await transcript.mount(holder)
        await (await holder.column(k)).add(group)
        return True

    def gate(self, step: int, gate: Gate) -> bool:
        holder = self.rounds.get((step, gate.iteration))
        return holder is not None and holder.show_gate(gate)

    def show_open(self, phases: dict[tuple[int, int], list[RoundPhase]]) -> None:
        """Each round's open phases (``phases``: the rounds with reviews open); the others' Done hidden."""
        for key in self.shown | set(phases):
            holder = self.rounds.get(key)
            if holder is not None and holder.is_attached:
                holder.show_open(phases.get(key, []))
        self.shown = set(phases)
