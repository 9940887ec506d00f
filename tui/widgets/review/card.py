"""A proposal of the optimizer as a card: Accept / Edit / Reject.

The card only proposes a decision (``DecisionChosen``); the screen checks it,
records it and calls :meth:`ProposalCard.show_decision`, which collapses the
card to one line.  A collapsed card expands again on click or Enter.  Editing
asks the screen for the editor (``EditRequested``), whose answer comes back
through :meth:`ProposalCard.edited`.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Click
from textual.widgets import Button, Static

from core.types import Decision, Proposal
from tui.messages import DecisionChosen, EditRequested
from tui.widgets.text import clean, diff_stats, one_line, word_diff

KIND_LABEL = {"feedback": "feedback", "candidate": "candidate prompt", "demonstration": "demonstration"}
DECISION_MARK = {
    "accept": ("✓ accepted", "green"),
    "edit": ("✎ edited", "yellow"),
    "reject": ("✗ rejected", "red"),
    "add": ("+ added", "cyan"),
}


class ProposalCard(Vertical, can_focus=True):
    BINDINGS = [
        Binding("a", "accept", "Accept", id="accept"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("r", "reject", "Reject", id="reject"),
        Binding("enter", "expand", "Expand", id="expand", show=False),
    ]

    def __init__(self, proposal: Proposal, *, parent_text: str | None = None, index: int = 0) -> None:
        super().__init__(classes=f"card -{proposal.kind} -{proposal.author}")
        self.proposal = proposal
        self.parent_text = parent_text
        self.index = index
        self.decision: Decision | None = None
        self.recorded = False  # decided in an earlier sitting (resume) or automatically
        self.is_open = False

    # ------------------------------------------------------------ content
    def _title(self) -> Text:
        p = self.proposal
        text = Text()
        who = "your " if p.author == "human" else ""
        text.append(f"{who}{KIND_LABEL.get(p.kind, p.kind)} {self.index + 1}", style="bold")
        text.append(f"  {clean(p.id)}", style="dim")
        if p.kind == "demonstration" and p.for_candidate:
            text.append(f"  for {clean(p.for_candidate)}", style="dim")
        stats = diff_stats(self.parent_text, p.text) if p.kind == "candidate" else ""
        if stats:
            text.append(f"  diff vs {clean(p.parent_id)}: {stats}", style="dim")
        return text

    def _body(self) -> Text:
        p = self.proposal
        if p.kind == "candidate" and self.parent_text is not None and p.author != "human":
            body = word_diff(self.parent_text, p.text)
        else:
            body = Text(clean(p.text))
        if not p.text.strip():
            body = Text("(empty)", style="italic")
        d = self.decision
        if d is not None and d.kind == "edit" and d.text is not None:
            edited = Text()
            edited.append("your edit:\n", style="bold yellow")
            edited.append(clean(d.text))
            edited.append("\n\noriginal:\n", style="bold dim")
            edited.append_text(body)
            return edited
        return body

    def _summary(self) -> Text:
        d = self.decision
        if d is None:
            return Text()
        mark, style = DECISION_MARK.get(d.kind, (d.kind, ""))
        text = Text()
        text.append(mark, style=f"bold {style}")
        if self.recorded:
            text.append(" (recorded)" if d.by != "auto" else " (auto)", style="dim")
        text.append(f"  {self.proposal.kind} {self.index + 1}: ", style="dim")
        shown = d.text if d.kind in ("edit", "add") and d.text else self.proposal.text
        text.append(one_line(shown, 90))
        return text

    def _warnings(self) -> list[str]:
        """What the reviewer should know before using the text as it is."""
        p = self.proposal
        warnings = []
        if p.truncated:
            warnings.append("⚠ the optimizer's output was cut off by its token limit (--optimizer-max-tokens)")
        if p.parse_error:
            warnings.append(f"⚠ could not parse the optimizer's output: {clean(p.parse_error)}")
        return warnings

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="card-title")
        yield Static(self._body(), classes="card-body")
        for warning in self._warnings():
            yield Static(Text(warning, style="yellow"), classes="card-warning")
        with Horizontal(classes="card-buttons"):
            for label, name, variant in (("Accept", "accept", "success"), ("Edit", "edit", "warning"),
                                         ("Reject", "reject", "error")):
                button = Button(label, name=name, variant=variant, compact=True, disabled=not self.is_open)
                button.can_focus = False
                yield button
        yield Static(self._summary(), classes="card-summary")

    # -------------------------------------------------------------- state
    def open(self) -> None:
        """Ready for a decision."""
        if self.decision is not None:
            return
        self.is_open = True
        self.add_class("-open")
        for button in self.query(Button):
            button.disabled = False
        self.refresh_bindings()

    def show_decision(self, decision: Decision, *, recorded: bool = False) -> None:
        self.decision = decision
        self.recorded = recorded
        self.is_open = False
        self.remove_class("-open", "-expanded")
        self.add_class("-decided", f"-{decision.kind}")
        for button in self.query(Button):
            button.disabled = True
        if self.is_mounted:
            self.query_one(".card-summary", Static).update(self._summary())
            self.query_one(".card-body", Static).update(self._body())
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept", "edit", "reject"):
            return self.is_open  # hidden from the footer once decided
        if action == "expand":
            return self.decision is not None
        return True

    # ------------------------------------------------------------ actions
    def _choose(self, kind: str, text: str | None = None) -> None:
        if not self.is_open:
            return
        self.post_message(DecisionChosen(Decision(self.proposal.id, kind, text, by="human")))

    def action_accept(self) -> None:
        self._choose("accept")

    def action_reject(self) -> None:
        self._choose("reject")

    def action_edit(self) -> None:
        if self.is_open:
            self.post_message(EditRequested(self.proposal.id))

    def edited(self, text: str | None) -> None:
        """The editor's answer: None (cancelled), the text unchanged (the
        original stands: an accept) or an edit."""
        if text is None:
            self.focus()
        elif text.strip() == clean(self.proposal.text).strip():
            self._choose("accept")
        else:
            self._choose("edit", text)

    @property
    def edit_title(self) -> str:
        return f"Edit {KIND_LABEL.get(self.proposal.kind, self.proposal.kind)} {self.proposal.id}"

    def action_expand(self) -> None:
        if self.decision is not None:
            self.toggle_class("-expanded")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.focus()
        {"accept": self.action_accept, "edit": self.action_edit, "reject": self.action_reject}[event.button.name]()

    def on_click(self, event: Click) -> None:
        if self.decision is not None:
            self.action_expand()
