"""A GEPA iteration in the transcript: its proposals side by side, one
column each (the pick's feedback, then its candidate, each a review group of
its own), and under each column the gate's decision on that candidate once
the round is gated.  A sequential run's iteration is a round of one column.

Which round and column a proposal belongs to is in its id's tag: ``i3.`` is
iteration 3's first proposal, ``i3.2.`` its third (``hf`` after either: the
candidates refined from a person's own feedback, in the same column)."""
from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Static

from reflectloop.core.types import Gate, Proposal, ProposalId
from reflectloop.tui.widgets.text import clean

_ROUND = re.compile(r"i(\d+)\.(?:(\d+)\.)?")


def round_of(p: Proposal) -> tuple[int, int, int] | None:
    """(step, iteration, column) of a GEPA proposal; None for any other."""
    match = _ROUND.match(ProposalId.parse(p.id).tag)
    return (p.step, int(match[1]), int(match[2] or 0)) if match else None


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
