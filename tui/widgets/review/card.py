"""A proposal of the optimizer as a card: Accept / Edit / Reject, with the
rubric's labels and a rationale.

The card only proposes a decision (``DecisionChosen``), carrying the labels
ticked (each label's key toggles it) and the rationale typed (Enter opens a
one-line input on the card); the screen checks it, records it and calls
:meth:`ProposalCard.show_decision`, which collapses the card to one line.  A
collapsed card expands again on click or Enter; an undone decision reopens
it (:meth:`ProposalCard.reopen`).  Editing asks the screen for the editor
(``EditRequested``), whose answer comes back through :meth:`ProposalCard.edited`.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Click, Key
from textual.widgets import Button, Input, Static
from textual.widgets.button import ButtonVariant

from reflectloop.core.rubric import Label
from reflectloop.core.types import Decision, DecisionKind, Proposal
from reflectloop.tui.messages import DecisionChosen, EditRequested
from reflectloop.tui.slash_commands import bindings
from reflectloop.tui.widgets.input.fields import LineInput
from reflectloop.tui.widgets.text import clean, diff_stats, one_line, word_diff

KIND_LABEL = {"feedback": "feedback", "candidate": "candidate prompt", "demonstration": "demonstration"}
DECISION_MARK = {
    "accept": ("✓ accepted", "green"),
    "edit": ("✎ edited", "yellow"),
    "reject": ("✗ rejected", "red"),
    "add": ("+ added", "cyan"),
}


class ProposalCard(Vertical, can_focus=True):
    BINDINGS = [
        *bindings("card"),
    ]

    def __init__(self, proposal: Proposal, *, parent_text: str | None = None, index: int = 0,
                 labels: tuple[Label, ...] = ()) -> None:
        super().__init__(classes=f"card -{proposal.kind} -{proposal.author}")
        self.proposal = proposal
        self.parent_text = parent_text
        self.index = index
        self.labels = labels  # what the rubric offers for this kind, in rubric order
        self.ticked: set[str] = set()
        self.rationale = ""
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
        if d.labels:
            text.append("  · " + ", ".join(clean(i) for i in d.labels), style="magenta")
        if d.rationale:
            text.append(f"  · why: {one_line(d.rationale, 50)}", style="italic dim")
        return text

    @property
    def label_ids(self) -> tuple[str, ...]:
        """The ticked labels, in rubric order."""
        return tuple(x.id for x in self.labels if x.id in self.ticked)

    def _annotation(self) -> Text:
        """The labels on offer (ticked ones marked) and the rationale typed."""
        text = Text()
        for x in self.labels:
            on = x.id in self.ticked
            text.append(f"[{clean(x.key)}] ", style="bold" if on else "dim")
            text.append(("☑ " if on else "☐ ") + clean(x.text), style="bold magenta" if on else "dim")
            text.append("  ")
        if self.rationale:
            text.append("\nwhy: ", style="bold dim")
            text.append(clean(self.rationale), style="italic")
        elif self.is_open:
            text.append("\n⏎ add a rationale", style="dim")
        return text

    def _warnings(self) -> list[str]:
        """What the reviewer should know before using the text as it is."""
        p = self.proposal
        warnings = []
        if p.truncated:
            warnings.append("⚠ the optimizer's output was cut off by its token limit (--optimizer-max-tokens)")
        if p.parse_error:
            warnings.append(f"⚠ could not parse the optimizer's output: {clean(p.parse_error)}")
        if p.errors_left_out:
            warnings.append(f"⚠ {p.errors_left_out} of its {len(p.errors)} errors were left out to fit the optimizer's context")
        return warnings

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="card-title")
        yield Static(self._body(), classes="card-body")
        for warning in self._warnings():
            yield Static(Text(warning, style="yellow"), classes="card-warning")
        yield Static(self._annotation(), classes="card-labels")
        yield LineInput(placeholder="why? (Enter keeps it, Escape cancels)", classes="card-rationale")
        with Horizontal(classes="card-buttons"):
            buttons: tuple[tuple[str, str, ButtonVariant], ...] = (
                ("Accept", "accept", "success"), ("Edit", "edit", "warning"), ("Reject", "reject", "error"))
            for label, name, variant in buttons:
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
        self._refresh_annotation()
        self.refresh_bindings()

    def reopen(self) -> None:
        """The decision was undone: undecided again, labels and rationale kept."""
        decision, self.decision = self.decision, None
        self.recorded = False
        self.remove_class("-decided", "-expanded", *(f"-{decision.kind}",) if decision else ())
        self.open()
        if self.is_mounted:
            self.query_one(".card-summary", Static).update("")
            self.query_one(".card-body", Static).update(self._body())

    def _refresh_annotation(self) -> None:
        if self.is_mounted:
            self.query_one(".card-labels", Static).update(self._annotation())

    def show_decision(self, decision: Decision, *, recorded: bool = False) -> None:
        self.decision = decision
        self.recorded = recorded
        self.ticked, self.rationale = set(decision.labels), decision.rationale
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
        if action == "enter":
            return self.decision is not None or self.is_open
        return True

    def on_key(self, event: Key) -> None:
        if event.key == "escape" and self.query_one(".card-rationale", Input).has_focus:
            event.stop()  # the rationale is left as it was
            self._close_rationale()
            return
        # A label's key toggles it; only while the card itself (not its rationale input) has the focus.
        if not (self.is_open and self.has_focus and event.character):
            return
        label = next((x for x in self.labels if x.key == event.character), None)
        if label is not None:
            event.stop()
            self.ticked ^= {label.id}
            self._refresh_annotation()

    # ------------------------------------------------------------ actions
    def _choose(self, kind: DecisionKind, text: str | None = None) -> None:
        if not self.is_open:
            return
        self.post_message(DecisionChosen(Decision(self.proposal.id, kind, text, by="human", labels=self.label_ids,
                                                  rationale=self.rationale)))

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

    def action_enter(self) -> None:
        if self.is_open:
            self.ask_rationale()
        else:
            self.action_expand()

    # ---------------------------------------------------------- rationale
    def ask_rationale(self) -> None:
        line = self.query_one(".card-rationale", Input)
        line.value = self.rationale
        line.add_class("-shown")
        line.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.rationale = event.value.strip()
        self._close_rationale()

    def _close_rationale(self) -> None:
        self.query_one(".card-rationale", Input).remove_class("-shown")
        self._refresh_annotation()
        self.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.focus()
        action = {"accept": self.action_accept, "edit": self.action_edit, "reject": self.action_reject}
        if event.button.name in action:
            action[event.button.name]()

    def on_click(self, event: Click) -> None:
        if self.decision is not None:
            self.action_expand()
