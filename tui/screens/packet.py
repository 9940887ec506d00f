"""An annotation packet (``reflectloop assign``) opened for its annotator.

No model runs here: the packet holds the source's LLM proposals and the
error sets they answer.  Everything is recorded through
:class:`sessions.packets.PacketReview`, which keeps the packet blind: an
error set that has LLM feedback shows its errors and asks for the
annotator's own reflection first; only once that is recorded are the LLM's
cards of the set shown (and can be decided).  The cards are the loop's review
widgets, with the packet's rubric: labels, rationale, accept / edit / reject,
undo, bulk decisions and the jump to the next undecided card work as there.
"""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Static

from reflectloop.core.rubric import RubricError
from reflectloop.core.types import DecisionKind
from reflectloop.sessions.lock import SessionLockedError
from reflectloop.sessions.packets import ErrorSet, PacketError, PacketReview
from reflectloop.tui.messages import DecisionChosen, EditRequested
from reflectloop.tui.screens.chat import BULK, ChatScreen, bulk_takes
from reflectloop.tui.slash_commands import Command, CommandError, bindings, packet_help_text
from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.review import ProposalCard, ReviewGroup
from reflectloop.tui.widgets.text import clean, literal
from reflectloop.tui.widgets.transcript import ErrorSet as ErrorTable, Transcript



class PacketSet(Vertical):
    """One error set: its errors and the request for a reflection (blind),
    then the LLM's cards, one group per kind."""

    def __init__(self, es: ErrorSet, reflection: str | None) -> None:
        super().__init__(classes="chat review-group packet-set")
        self.es = es
        self.reflection = reflection
        self.groups: dict[str, ReviewGroup] = {}

    @property
    def waiting(self) -> bool:
        """The set waits for the annotator's reflection before its cards are shown."""
        return self.es.has_feedback and self.reflection is None

    def compose(self) -> ComposeResult:
        es = self.es
        what = "the initial prompts" if es.parent_id == "task" else f"the error set of {clean(es.parent_id)}"
        title = Text(f"step {es.step} · {what}", style="bold")
        if es.parent is not None:
            title.append("\nprompt: ", style="dim")
            title.append(clean(es.parent.instruction), style="dim")
        yield Static(title, classes="group-title")
        if es.errors:
            yield ErrorTable(es.errors, title=f"the {len(es.errors)} errors the optimizer was shown")
        yield Static(self._reflection_line(), classes="group-hint")

    def _reflection_line(self) -> Text:
        if self.reflection is not None:
            return Text.assemble(("your reflection: ", "bold cyan"), literal(self.reflection))
        if self.waiting:
            return Text("Why does the prompt fail on these? Type your reflection in the line below and press "
                        "Enter; the optimizer's feedback and candidates are shown after yours.", style="italic")
        return Text("")

    def reflected(self, text: str) -> None:
        self.reflection = text
        self.query_one(".group-hint", Static).update(self._reflection_line())

    async def show_cards(self, review: PacketReview) -> None:
        """Mount the LLM's cards (``review.visible`` refuses before the reflection)."""
        decided = review.decisions()
        for p in review.visible(self.es):
            group = self.groups.get(p.kind)
            if group is None:
                shown = self.es.parent if p.kind != "demonstration" else None
                parent = shown.instruction if shown is not None else None
                group = self.groups[p.kind] = ReviewGroup(f"{self.es.key}/{p.kind}", p, parent_text=parent,
                                                          rubric=review.rubric)
                await self.mount(group)
            card = await group.add_card(p)
            if p.id in decided:
                card.show_decision(decided[p.id], recorded=True)
            else:
                card.open()
        for group in self.groups.values():
            group.refresh_count()

    def cards(self) -> list[ProposalCard]:
        return [c for g in self.groups.values() for c in g.cards.values()]


class PacketScreen(ChatScreen):
    BINDINGS = [
        *bindings("packet"),
    ]
    AUTO_FOCUS = "#command-line"
    WHERE = "packet"

    def __init__(self, path: str | Path, *, annotator: str | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.annotator_setting = annotator
        self.review: PacketReview | None = None
        self.sets: list[PacketSet] = []
        self.made: list[ProposalCard] = []  # this sitting's decisions, newest last (undo)

    def compose(self) -> ComposeResult:
        yield Static(Text(f" reflectloop · packet {self.path.name} ", style="bold reverse"), id="title-bar")
        with Vertical(id="chat"):
            yield Transcript(id="transcript")
            yield CommandLine(id="command-line", where="packet")
        yield Static("", id="status")
        yield Footer()

    async def on_mount(self) -> None:
        try:
            self.review = PacketReview.open(self.path)
        except (PacketError, RubricError, OSError, ValueError, SessionLockedError) as exc:  # locked: names its holder
            self.say(f"cannot open the packet: {exc}", level="error")
            return
        review = self.review
        self.say(Text.assemble(
            ("annotation packet ", "bold"), clean(self.path.name),
            f" · annotator {review.annotator} · rubric {clean(review.rubric.name)} · blind: your reflection on each "
            "error set comes before the optimizer's text.  No model runs.  /help lists the commands."))
        if self.annotator_setting and self.annotator_setting != review.annotator:
            self.say(f"this packet is {review.annotator}'s: its decisions are recorded as {review.annotator}, "
                     f"not {self.annotator_setting}", level="warning")
        for es in review.error_sets:
            packet_set = PacketSet(es, review.reflection(es))
            self.sets.append(packet_set)
            await self.transcript.mount(packet_set)
            if not packet_set.waiting:
                await packet_set.show_cards(review)
        self.show_status()
        self.focus_next_card()

    def close_packet(self) -> None:
        review, self.review = self.review, None
        if review is not None:
            review.close()

    def on_unmount(self) -> None:
        self.close_packet()

    # ---------------------------------------------------------- status
    def waiting_set(self) -> PacketSet | None:
        return next((s for s in self.sets if s.waiting), None)

    def undecided(self) -> list[ProposalCard]:
        return [c for s in self.sets for c in s.cards() if c.decision is None]

    def show_status(self) -> None:
        if self.review is None:
            return
        left = self.review.remaining()
        status = Text(f" {clean(self.path.name)} ", style="bold reverse")
        status.append(f"  annotator {self.review.annotator} · ")
        status.append(f"{left} card(s) left" if left else "every card decided", style="yellow" if left else "green")
        waiting = sum(s.waiting for s in self.sets)
        if waiting:
            status.append(f" · {waiting} error set(s) wait for your reflection", style="bold yellow")
        self.query_one("#status", Static).update(status)
        target = self.waiting_set()
        self.command_line.placeholder = (f"your reflection on the errors of {clean(target.es.key)} (Enter)"
                                         if target else "a command (/help)")

    @property
    def opened(self) -> PacketReview:
        """The open packet (commands are refused while it is not: ``run_command``)."""
        if self.review is None:
            raise CommandError("the packet is not open")
        return self.review

    def focus_next_card(self, after: ProposalCard | None = None) -> None:
        """The next undecided card after ``after``, else the input line."""
        if self.app.screen is not self:
            return
        every = [c for s in self.sets for c in s.cards()]
        start = every.index(after) + 1 if after in every else 0
        card = next((c for c in every[start:] + every[:start] if c.decision is None), None)
        if card is None or (self.waiting_set() is not None and after is None):
            self.command_line.focus()
        else:
            card.focus()
            card.scroll_visible()

    # --------------------------------------------------------- deciding
    def on_decision_chosen(self, message: DecisionChosen) -> None:
        message.stop()
        d = message.decision
        card = self._card(d.proposal_id)
        if card is None or card.decision is not None:
            return
        try:
            recorded = self.opened.decide(d.proposal_id, d.kind, text=d.text, labels=d.labels, rationale=d.rationale)
        except (PacketError, RubricError) as exc:
            self.say(str(exc), level="error")
            return
        self._decided(card, recorded)
        self.focus_next_card(after=card)

    def _decided(self, card: ProposalCard, decision) -> None:
        card.show_decision(decision)
        self._group_of(card).refresh_count()
        self.made.append(card)
        self.show_status()

    def on_edit_requested(self, message: EditRequested) -> None:
        message.stop()
        self.edit_card(self._card(message.proposal_id))

    def _group_of(self, card: ProposalCard) -> ReviewGroup:
        return next(g for s in self.sets for g in s.groups.values() if card.proposal.id in g.cards)

    def _card(self, proposal_id: str) -> ProposalCard | None:
        return next((c for s in self.sets for c in s.cards() if c.proposal.id == proposal_id), None)

    def undo(self) -> str:
        while self.made:
            card = self.made.pop()
            if card.decision is None:
                continue
            self.opened.undo(card.proposal.id)
            card.reopen()
            self._group_of(card).refresh_count()
            self.show_status()
            card.focus()
            return f"undone: the decision on {clean(card.proposal.id)}; it is open again"
        return "nothing to undo in this sitting"

    def bulk(self, kind: DecisionKind, which: str) -> str:
        n = 0
        for card in self.undecided():
            if not bulk_takes(card.proposal, which):
                continue
            self._decided(card, self.opened.decide(card.proposal.id, kind, labels=card.label_ids,
                                                   rationale=card.rationale))
            n += 1
        self.focus_next_card()
        return f"{n} card(s) {kind}ed; {self.opened.remaining()} left"

    def done(self) -> str:
        left, waiting = self.opened.remaining(), self.waiting_set()
        if waiting is not None:
            return f"{left} card(s) left; {waiting.es.key} waits for your reflection first"
        if left:
            return f"{left} card(s) left: n jumps to the next undecided one"
        return "every card of this packet is decided: q quits (the packet keeps everything)"

    # ------------------------------------------------------------ input
    async def own_text(self, text: str) -> None:
        """The annotator's reflection on the error set that waits for it."""
        target = self.waiting_set()
        if target is None:
            self.say("no error set waits for your reflection: this text is not recorded", level="warning")
            return
        try:
            self.opened.reflect(target.es, text)
        except PacketError as exc:
            self.say(str(exc), level="error")
            return
        target.reflected(text)
        await target.show_cards(self.opened)
        self.show_status()
        self.focus_next_card()

    async def run_command(self, cmd: Command) -> None:
        if self.review is None and cmd.name not in ("help", "quit"):
            raise CommandError("the packet is not open")
        which = cmd.args[0].lower() if cmd.args else ""
        match cmd.name:
            case "help":
                self.say(packet_help_text(getattr(self.app, "action_keys", None)))
            case "quit":
                await self.app.action_quit()
            case "undo":
                self.say(self.undo())
            case "done":
                self.say(self.done())
            case "next":
                self.action_next_undecided()
            case "accept" | "reject" if which in BULK[cmd.name]:
                self.say(self.bulk("accept" if cmd.name == "accept" else "reject", which))
            case "accept" | "reject":
                raise CommandError("/accept parsed, /accept rest or /reject unparsed")
            case _:
                raise CommandError(f"/{cmd.name} is not available in a packet (no model runs): /help lists "
                                   "what is")

    # ---------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape is shown (and acts) only in the input line; the key into it only outside.
        if action == "leave_input":
            return self.focused is self.command_line
        if action == "command":
            return self.focused is not self.command_line
        return True

    def action_leave_input(self) -> None:
        """Escape only leaves the input line, to the first undecided card (else
        the transcript): a key typed next never lands in the line by surprise."""
        if self.focused is not self.command_line:
            return
        cards = self.undecided()
        self.set_focus(cards[0] if cards else self.transcript)

    def action_command(self) -> None:
        """The input line, from a click on the footer's key (the key itself is
        taken by the app: ``tui.widgets.input.typing``)."""
        line = self.command_line
        self.set_focus(line)
        if not line.value:
            line.start("/")

    def action_next_undecided(self) -> None:
        focused = self.focused if isinstance(self.focused, ProposalCard) else None
        if not self.undecided():
            self.say(self.done())
        self.focus_next_card(after=focused)

    def action_undo(self) -> None:
        if self.review is not None:
            self.say(self.undo())

    def action_done(self) -> None:
        if self.review is not None:
            self.say(self.done())
