"""Two lines at the bottom: where the loop stands (and how many cards are
left to decide), and what the models cost over the whole session."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from reflectloop.tui.widgets.text import clean


@dataclass
class ModelState:
    role: str
    spec: str = ""
    busy: int = 0
    tokens: int = 0
    calls: int = 0
    cost: float = 0.0


def _bar(done: int, total: int, width: int = 16) -> str:
    filled = int(width * done / max(total, 1))
    return "█" * filled + "░" * (width - filled)


class StatusBar(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.session = ""
        self.step: int | None = None
        self.phase = "idle"
        self.detail = ""
        self.progress: tuple[str, int, int] | None = None
        self.models = {"target": ModelState("target"), "optimizer": ModelState("optimizer")}
        self.blind = False
        self.auto = False
        self.waiting = ""  # what the loop waits for: "your review", "your reflection"
        self.left: int | None = None  # cards still undecided in the open reviews
        self.pending = 0  # reflections typed outside a review, kept for the next error set
        self.keys = ""  # where the next key goes: "card 2/4", "input", "transcript", ...
        # Candidates accepted this step whose evaluation has not arrived: the
        # loop starts each at its acceptance, while the person reviews on.
        self.background: set[str] = set()

    def on_mount(self) -> None:
        self.show()

    def set_phase(self, step: int | None, phase: str, detail: str = "") -> None:
        self.step, self.phase, self.detail = step, phase, detail
        if phase != "evaluate" and phase != "test":
            self.progress = None
        self.show()

    def set_progress(self, label: str, done: int, total: int) -> None:
        self.progress = (label, done, total)
        self.show()

    def candidate_decided(self, proposal_id: str, started: bool) -> None:
        """The loop started a candidate's evaluation at its acceptance (``core.step.overlap``), or stopped it."""
        if started:
            self.background.add(proposal_id)
        else:
            self.background.discard(proposal_id)
        self.show()

    def candidate_evaluated(self, prompt_id: str) -> None:
        if prompt_id in self.background:
            self.background.discard(prompt_id)
            self.show()

    def step_over(self) -> None:
        """What was started and never arrived (a duplicate dropped) stopped with the step."""
        self.background.clear()

    def set_models(self, states: list[ModelState]) -> bool:
        """Update from the models' counters; True when anything changed."""
        changed = False
        for state in states:
            if self.models.get(state.role) != state:
                self.models[state.role] = state
                changed = True
        if changed:
            self.show()
        return changed

    def show(self) -> None:
        line1 = Text()
        line1.append(f" {clean(self.session)} ", style="bold reverse")
        if self.keys:
            line1.append(f" keys → {self.keys} ", style="bold reverse cyan" if self.keys == "input" else "bold")
            line1.append("│")
        where = "not started" if self.step is None else f"step {self.step} · {clean(self.phase)}"
        line1.append(f" {where}")
        if self.detail:
            line1.append(f" {clean(self.detail)}", style="dim")
        if self.progress:
            label, done, total = self.progress
            line1.append(f"  {label} {_bar(done, total)} {done}/{total}")
        if self.waiting:
            line1.append(f"  ● waiting for {self.waiting}", style="bold yellow")
        if self.left is not None:
            line1.append(f" · {self.left} card(s) left" if self.left else " · all decided: d (Done)",
                         style="yellow")
        if self.background and self.left is not None:  # only while a review is open: otherwise the phase says it
            n = len(self.background)
            line1.append(f"  ⚙ evaluating {n} candidate{'s' if n > 1 else ''} in the background", style="cyan")
        if self.pending:
            line1.append(f"  ⏳ {self.pending} reflection(s) pending (/withdraw)", style="yellow")
        line2 = Text()
        tokens = sum(m.tokens for m in self.models.values())
        calls = sum(m.calls for m in self.models.values())
        cost = sum(m.cost for m in self.models.values())
        line2.append(f" tokens {tokens:,} · calls {calls} · ${cost:.4f}")
        for m in self.models.values():
            busy = m.busy > 0
            line2.append("  │ ")
            line2.append(f"{m.role} ", style="bold")
            line2.append(clean(m.spec) + " ", style="dim")
            line2.append(f"● busy ×{m.busy}" if busy else "○ idle", style="bold green" if busy else "dim")
        line2.append("  │ ")
        line2.append(f"blind {'on' if self.blind else 'off'} · auto {'on' if self.auto else 'off'}")
        self.update(Text("\n").join([line1, line2]))
