"""What the loop screen and the packet screen share: a transcript, an input
line, reflectloop's own lines, the card editor, and which cards a bulk
decision takes."""
from __future__ import annotations

from typing import Awaitable, Callable

from rich.text import Text
from textual import events, on
from textual.screen import Screen
from textual.widgets import Input

from reflectloop.core.types import Proposal
from reflectloop.tui.palette import SlashCommandsProvider
from reflectloop.tui.slash_commands import (BY_NAME, Command, CommandError, SlashCommand, available, command_bindings,
                                             parse)
from reflectloop.tui.screens.edit import EditScreen
from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.review import ProposalCard
from reflectloop.tui.widgets.transcript import SystemLine, Transcript, UserLine

# The bulk decisions (/accept parsed|rest, /reject unparsed): which undecided cards each command takes.
BULK = {"accept": ("parsed", "rest"), "reject": ("unparsed",)}


def bulk_takes(p: Proposal, which: str) -> bool:
    """``which`` ("parsed", "unparsed", "rest") takes this proposal."""
    parsed = not p.parse_error and bool(p.text.strip())
    return which == "rest" or (which == "parsed") == parsed


class ChatScreen(Screen):
    """Each subclass defines ``async run_command(cmd: Command)``, which
    carries out a command of the input line, and ``async own_text(text)``,
    which takes the person's free text; ``WHERE`` says which of the slash
    commands it takes (``tui.slash_commands.available``)."""

    WHERE = "loop"
    COMMANDS = {SlashCommandsProvider}
    run_command: Callable[[Command], Awaitable[None]]
    own_text: Callable[[str], Awaitable[None]]  # the slash commands in the command palette

    @property
    def slash_commands(self) -> tuple[SlashCommand, ...]:
        return available(self.WHERE)

    @on(events.Mount)
    def bind_command_keys(self) -> None:
        # A handler of its own, not on_mount: the screens' own on_mount run as well.
        # The [keymap] table's keys for commands (``tui.keymap``): bindings of this screen.
        for name, keys in getattr(self.app, "command_keys", {}).items():
            if BY_NAME[name] in self.slash_commands:
                for binding in command_bindings(BY_NAME[name], keys):
                    self._bindings.key_to_bindings.setdefault(binding.key, []).append(binding)

    async def action_slash(self, name: str) -> None:
        """A command from a key or the palette: carried out as if typed, or typed
        into the input line when it needs an argument."""
        command = BY_NAME[name]
        if command.needs_argument:
            self.set_focus(self.command_line)
            self.command_line.start(command.suggestions[0].split()[0] + " ")
            return
        await self.submit_command(f"/{name}")

    async def submit_command(self, text: str) -> None:
        await self.transcript.mount(UserLine(text.strip()))
        try:
            await self.run_command(parse(text))
        except CommandError as exc:
            self.say(str(exc), level="warning")

    @on(Input.Submitted, "#command-line")
    async def on_line(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        event.input.clear()
        if not text.strip():
            return
        if text.lstrip().startswith("/"):
            await self.submit_command(text)
            return
        await self.transcript.mount(UserLine(text))
        await self.own_text(text)

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def command_line(self) -> CommandLine:
        return self.query_one(CommandLine)

    def say(self, text: str | Text, level: str = "info") -> None:
        self.transcript.mount(SystemLine(text, level=level))

    def edit_card(self, card: ProposalCard | None) -> None:
        """The editor on a card's text; its answer goes back to the card."""
        if card is not None:
            self.app.push_screen(EditScreen(card.proposal.text, title=card.edit_title), card.edited)
