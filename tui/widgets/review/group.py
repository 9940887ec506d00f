"""A review request in the transcript: its cards, the error set they answer,
what the person added, and (blind mode) the request for their reflection.

An open group stays open after its last card is decided, until the person
says Done (the desk decides when); a closed group collapses to its title and
a count of its decisions, and a click on the title opens it again."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Click
from textual.widgets import Button, Static

from reflectloop.core.review import ReflectRequest
from reflectloop.core.rubric import Rubric
from reflectloop.core.types import ErrorCase, Proposal
from reflectloop.tui.messages import GroupDone
from reflectloop.tui.widgets.review.card import KIND_LABEL, ProposalCard
from reflectloop.tui.widgets.text import clean, literal
from reflectloop.tui.widgets.transcript.errors import ErrorSet


PLURAL = {"feedback": "feedback", "candidate": "candidate prompts", "demonstration": "demonstration"}


class ReviewGroup(Vertical):
    """The proposals of one kind for one parent; open while its request waits."""

    def __init__(self, key: str, first: Proposal, *, parent_text: str | None = None,
                 rubric: Rubric | None = None) -> None:
        super().__init__(classes=f"chat review-group -{first.kind}")
        self.rubric = rubric
        self.key = key
        self.kind = first.kind
        self.step = first.step
        self.parent_id = first.for_candidate or first.parent_id
        self.author = first.author
        self.errors: tuple[ErrorCase, ...] = first.errors
        self.parent_text = parent_text
        self.cards: dict[str, ProposalCard] = {}
        self.is_open = False
        self.finished = False
        self.allow_add = False
        self.in_round = False  # a column of a GEPA round: the round's one Done closes it (``widgets.review.round``)
        self._pending: list[ProposalCard] = []

    def _title(self) -> Text:
        text = Text()
        label = PLURAL.get(self.kind, self.kind)
        of = "the task" if self.parent_id == "task" else clean(self.parent_id)
        who = "your own " if self.author == "human" else ""
        text.append(f"step {self.step} · {who}{label} for {of}", style="bold")
        if self.parent_text is not None and self.kind != "demonstration":
            text.append("\nparent: ", style="dim")
            text.append(clean(self.parent_text), style="dim")
        return text

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="group-title")
        yield Static("", classes="group-count")
        if self.kind == "feedback" and self.errors and self.author == "llm":
            yield ErrorSet(self.errors, title=f"the {len(self.errors)} errors the optimizer was shown")
        yield Static("", classes="group-context")
        yield Vertical(*self._pending, classes="group-cards")
        yield Vertical(classes="group-own")
        yield Static("", classes="group-hint")
        yield Button("Done", name="done", compact=True, classes="group-done", disabled=True)

    async def add_card(self, proposal: Proposal) -> ProposalCard:
        labels = self.rubric.for_kind(proposal.kind) if self.rubric else ()
        card = ProposalCard(proposal, parent_text=self.parent_text, index=len(self.cards), labels=labels)
        self.cards[proposal.id] = card
        if not self.is_mounted:
            self._pending.append(card)  # composed with the group
            return card
        box = self.query_one(".group-cards", Vertical)
        # A proposal may still arrive while the app closes and takes the screen
        # down (the run's worker ends after it): there is nowhere to show it then.
        if box.is_attached:
            await box.mount(card)
        return card

    def open(self, *, allow_add: bool, context: str = "") -> None:
        self.is_open = True
        self.add_class("-open")
        if context:
            text = Text("what the optimizer saw instead of feedback:\n", style="bold dim")
            text.append(clean(context), style="dim")
            self.query_one(".group-context", Static).update(text)
        self.allow_add = allow_add and self.kind in ("feedback", "candidate")
        keys = "".join(x.key for x in self.rubric.for_kind(self.kind)) if self.rubric else ""
        hint = "a accept · e edit · r reject (or click)"
        if keys:
            hint += f" · {clean(keys)} toggle labels"
        hint += " · ⏎ rationale · u undo · n next undecided · d done · / the input line"
        if self.allow_add:
            hint += f" · your own {KIND_LABEL[self.kind]} before Done: type it there (delete the /)"
        if not self.cards:
            hint = "the optimizer proposed nothing here" + (
                f": type your own {KIND_LABEL[self.kind]} in the input line (/ goes there; delete the /), "
                "then press Done" if allow_add else "; press Done")
        self.query_one(".group-hint", Static).update(Text(hint, style="italic dim"))
        self.refresh_count()

    def refresh_count(self) -> None:
        """What is left to decide; the Done button once nothing is."""
        left = len(self.undecided())
        count = Text()
        if self.cards:
            decided = len(self.cards) - left
            count.append(f"{decided} of {len(self.cards)} decided", style="bold" if left else "bold green")
            if left:
                count.append(f" · {left} left", style="yellow")
            elif self.is_open:
                count.append(" · d (Done) closes " + ("the round's reviews of this phase" if self.in_round else
                                                      "this review") + (
                    ", after any text of your own" if self.allow_add else ""), style="italic")
            kinds = [c.decision.kind for c in self.cards.values() if c.decision is not None]
            tally = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
            if tally:
                count.append(f"  ({tally})", style="dim")
        self.query_one(".group-count", Static).update(count)
        button = self.query_one(".group-done", Button)
        ready = self.is_open and not left and not self.in_round
        button.disabled = not ready
        button.set_class(ready, "-shown")
        button.can_focus = ready

    @property
    def done_button(self) -> Button:
        return self.query_one(".group-done", Button)

    def add_own(self, text: str) -> None:
        line = Text.assemble((f"your {KIND_LABEL[self.kind]} (added when this review completes): ", "bold cyan"),
                             literal(text))
        self.query_one(".group-own", Vertical).mount(Static(line, classes="own-text"))

    def close(self) -> None:
        self.is_open = False
        self.finished = True
        self.remove_class("-open")
        self.add_class("-closed", "-collapsed")
        self.query_one(".group-hint", Static).update("")
        self.refresh_count()

    def undecided(self) -> list[ProposalCard]:
        return [c for c in self.cards.values() if c.decision is None]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.name == "done":
            event.stop()
            self.post_message(GroupDone(self.key))

    def on_click(self, event: Click) -> None:
        # A click on the title (not on a card) of a closed group shows or hides its cards.
        on_title = event.widget is not None and any(event.widget.has_class(c) for c in ("group-title", "group-count"))
        if self.finished and on_title:
            self.toggle_class("-collapsed")


class ReflectPrompt(Vertical):
    """Blind mode: the errors, and a request for the person's own reflection."""

    def __init__(self, request: ReflectRequest) -> None:
        super().__init__(classes="chat reflect-prompt")
        self.request = request
        self.answered = False

    def compose(self) -> ComposeResult:
        r = self.request
        text = Text()
        text.append(f"step {r.step} · your reflection first (blind mode) on {clean(r.parent.id)}", style="bold magenta")
        text.append("\nprompt: ", style="dim")
        text.append(clean(r.parent.instruction), style="dim")
        yield Static(text, classes="group-title")
        yield ErrorSet(r.errors, title=f"the {len(r.errors)} errors the optimizer will be shown")
        hint = ("Why does the prompt fail on these? Type your reflection in the line below and press Enter "
                "(/skip to give none). The optimizer's feedback is generated after yours.")
        yield Static(Text(hint, style="italic"), classes="group-hint")

    def answer(self, texts: tuple[str, ...]) -> None:
        self.answered = True
        self.add_class("-answered")
        hint = "you gave no reflection" if not texts else "your reflection is recorded"
        self.query_one(".group-hint", Static).update(Text(hint, style="italic dim"))
