"""Where the loop screen's keys go: Escape only leaves the input line, and
the status bar says where the next key goes (``keys → card 2/4``).  The
keys that open the input (``/``, a paste) are routed by the app:
``tui.widgets.input.typing``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Button

from reflectloop.tui.screens.loop.key_target import keys_go_to
from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.review import ProposalCard
from reflectloop.tui.widgets.status import StatusBar

if TYPE_CHECKING:  # a mixin of the loop screen: what it uses of the screen it is mixed into
    from textual.screen import Screen

    from reflectloop.tui.screens.loop.desk import ReviewDesk
    from reflectloop.tui.widgets.transcript import Transcript

    class _LoopScreen(Screen):
        desk: ReviewDesk
        transcript: Transcript
else:
    _LoopScreen = object


class KeysShown(_LoopScreen):
    """For the loop screen (it has ``desk``, ``transcript`` and ``command_line``)."""

    came_from: Widget | None = None  # where the focus was before the input line: Escape goes back there

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape is shown (and acts) only in the input line; the key into it only outside.
        if action == "leave_input":
            return isinstance(self.focused, CommandLine)
        if action == "command":
            return not isinstance(self.focused, CommandLine)
        return True

    def action_leave_input(self) -> None:
        """Back to the card (or Done button) the focus came from, else the next
        undecided card, else the transcript; nothing from outside the input."""
        if not isinstance(self.focused, CommandLine):
            return
        back = self.came_from
        open_card = isinstance(back, ProposalCard) and back.is_open
        ready_done = isinstance(back, Button) and back.name == "done" and back.focusable and back.is_attached
        target = back if open_card or ready_done else self.desk.first_undecided() or self.transcript
        self.set_focus(target)  # at once: the next key typed goes where the status says

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not isinstance(event.widget, CommandLine):
            self.came_from = event.widget
        self.show_keys()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.show_keys()

    def show_keys(self) -> None:
        try:
            status = self.query_one(StatusBar)
        except NoMatches:  # not composed yet, or being taken down
            return
        status.keys = keys_go_to(self.focused, self.desk.reviews.position)
        status.show()
