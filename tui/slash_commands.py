"""The TUI's slash commands and keys, each declared once.

``COMMANDS`` (a :class:`SlashCommand` per command of the input line: name,
usage, help, handler, key) feeds /help, the input line's suggestions, the
command palette (``tui.palette``) and the ``[keymap]`` table of the config
file (``tui.keymap``); ``KEYS`` (a :class:`Key` per key binding: id, default
key, action, footer text) feeds every screen's and widget's ``BINDINGS``.
Parsing a typed command is here too; what a command does is its handler, a
method of the loop screen's command table (``tui.screens.loop.command_table``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from rich.text import Text
from textual.binding import Binding


@dataclass(frozen=True)
class SlashCommand:
    name: str  # without the slash
    usage: str  # "/run N": the arguments it takes ([optional], a|b choices)
    help: str
    handler: str  # the method of the loop screen's command table that carries it out
    key: str | None = None  # the id of the key (in KEYS) that does the same, if one does
    packet: bool = False  # available in an annotation packet too
    packet_help: str = ""  # what it does there, when that differs
    suggest: tuple[str, ...] = ()  # what the input line completes to (default: the name, then a space for an argument)
    needs_argument: bool = False  # it does nothing without one (``/run`` alone runs one step: it needs none)

    @property
    def suggestions(self) -> tuple[str, ...]:
        return self.suggest or (f"/{self.name}" + (" " if self.needs_argument else ""),)


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("next", "/next", "run one step", "next", key="next",
                 packet=True, packet_help="the next undecided card"),
    SlashCommand("run", "/run N", "run N steps", "next", suggest=("/run ",)),
    SlashCommand("auto", "/auto", "accept every proposal from here on, and run the remaining steps", "auto"),
    SlashCommand("pause", "/pause", "stop after the current step (and leave auto mode)", "pause"),
    SlashCommand("blind", "/blind on|off", "write your own reflection before the optimizer's is generated", "blind",
                 suggest=("/blind on", "/blind off"), needs_argument=True),
    SlashCommand("skip", "/skip", "answer blind mode's request for your reflection with none", "skip"),
    SlashCommand("method", "/method NAME", "change the method (before step 0; afterwards it starts a new session)",
                 "method", needs_argument=True),
    SlashCommand("export", "/export [jsonl|csv|hf]", "write the session's annotation export beside it", "export"),
    SlashCommand("save", "/save PATH",
                 "write the best prompt with its messages filled (.json JSON, .py Python, else text)", "save",
                 needs_argument=True),
    SlashCommand("undo", "/undo", "withdraw your last decision in an open review (u on the cards)", "undo",
                 key="undo", packet=True,
                 packet_help="withdraw your last decision"),
    SlashCommand("done", "/done",
                 "close the reviews whose cards are all decided (d on the cards), after any text of your own; "
                 "a GEPA round's reviews of one phase close together, or none while a card is undecided",
                 "done", key="done", packet=True, packet_help="how much is left"),
    SlashCommand("accept", "/accept parsed|rest", "accept every undecided card whose output parsed, or every "
                 "undecided card", "bulk", packet=True, suggest=("/accept parsed", "/accept rest"),
                 needs_argument=True),
    SlashCommand("reject", "/reject unparsed", "reject every undecided card whose output could not be parsed",
                 "bulk", packet=True, suggest=("/reject unparsed",), needs_argument=True),
    SlashCommand("withdraw", "/withdraw",
                 "take back the reflection you typed while no review was open (the newest first)", "withdraw"),
    SlashCommand("scores", "/scores", "show or hide the scores panel (F2)", "scores", key="scores"),
    SlashCommand("audit", "/audit", "the reflection audit of this session (repetitiveness, grounding, human vs "
                 "LLM, …)", "audit"),
    SlashCommand("help", "/help", "this list", "help", packet=True),
    SlashCommand("quit", "/quit", "stop and quit (the session stays resumable)", "quit", key="quit",
                 packet=True,
                 packet_help="close the packet and quit"),
)
BY_NAME = {c.name: c for c in COMMANDS}


def available(where: str) -> tuple[SlashCommand, ...]:
    """The commands of the loop screen (``"loop"``) or of an annotation packet (``"packet"``)."""
    return COMMANDS if where == "loop" else tuple(c for c in COMMANDS if c.packet)


@dataclass(frozen=True)
class Key:
    id: str  # the binding id, the name the [keymap] table gives it a key by
    key: str  # the default key
    action: str
    description: str
    where: str  # "app", "loop", "packet", "card", "editor", "start", "audit"
    show: bool = True
    priority: bool = False


KEYS: tuple[Key, ...] = (
    Key("interrupt", "ctrl+c", "quit", "Quit", "app", show=False, priority=True),
    Key("quit", "q", "quit", "Quit", "app"),
    Key("scores", "f2", "toggle_scores", "Scores", "loop"),
    Key("leave-input", "escape", "leave_input", "Leave the input", "loop"),
    Key("command", "slash", "command", "Input", "loop"),
    Key("next", "n", "next_step", "Next undecided / step", "loop"),
    Key("undo", "u", "undo", "Undo", "loop"),
    Key("done", "d", "done", "Done", "loop"),
    Key("leave-input", "escape", "leave_input", "Leave the input", "packet"),
    Key("command", "slash", "command", "Input", "packet"),
    Key("next", "n", "next_undecided", "Next undecided", "packet"),
    Key("undo", "u", "undo", "Undo", "packet"),
    Key("done", "d", "done", "Done", "packet"),
    Key("accept", "a", "accept", "Accept", "card"),
    Key("edit", "e", "edit", "Edit", "card"),
    Key("reject", "r", "reject", "Reject", "card"),
    Key("expand", "enter", "enter", "Rationale / expand", "card", show=False),
    Key("save", "ctrl+s", "save", "Save", "editor", priority=True),
    Key("cancel", "escape", "cancel", "Cancel", "editor"),
    Key("start", "ctrl+s", "start", "Start", "start", priority=True),
    Key("refresh-sessions", "ctrl+r", "refresh_sessions", "Refresh sessions", "start"),
    Key("audit-close", "escape", "close", "Close", "audit"),
    Key("audit-reload", "r", "reload", "Audit again", "audit"),
)


def bindings(where: str) -> list[Binding]:
    """The ``BINDINGS`` of a screen or widget, from ``KEYS``."""
    return [Binding(k.key, k.action, k.description, show=k.show, priority=k.priority, id=k.id)
            for k in KEYS if k.where == where]


def command_bindings(command: SlashCommand, keys: str) -> list[Binding]:
    """The bindings the [keymap] table gives a command (``keys``: a comma list): each key runs
    it, or opens the input line with it typed when it needs an argument."""
    binding = Binding(keys, f"slash({command.name!r})", command.usage, show=False, id=f"/{command.name}")
    return list(Binding.make_bindings([binding]))  # one per key, named as Textual names keys ("?" -> question_mark)


# ----------------------------------------------------------- parsing
@dataclass(frozen=True)
class Command:
    name: str  # without the slash: "next", "run", ...
    args: tuple[str, ...]
    text: str


class CommandError(ValueError):
    pass


def parse(text: str) -> Command:
    parts = text.strip().split()
    if not parts or not parts[0].startswith("/"):
        raise CommandError("a command starts with '/'")
    name = parts[0][1:].lower()
    if name not in BY_NAME:
        raise CommandError(f"unknown command /{name}: /help lists them")
    return Command(name, tuple(parts[1:]), text)


def count(command: Command, default: int = 1) -> int:
    if not command.args:
        return default
    try:
        n = int(command.args[0])
    except ValueError:
        raise CommandError(f"/{command.name} takes a number of steps, not {command.args[0]!r}") from None
    if n < 1:
        raise CommandError(f"/{command.name} takes a positive number of steps")
    return n


def help_lines(commands: tuple[SlashCommand, ...], *, packet: bool = False) -> Text:
    """One line per command: its usage and what it does."""
    text = Text("commands\n", style="bold")
    width = max(len(c.usage) for c in commands)
    for c in commands:
        text.append(f"  {c.usage:<{width}}  ", style="bold")
        text.append(f"{(packet and c.packet_help) or c.help}\n")
    return text


def key_names(keymap: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each key id -> the keys that do it, as a person reads them: the
    [keymap] table's where it remaps the id, else the default."""
    shown = {k.id: k.key for k in reversed(KEYS)} | dict(keymap or {})
    spoken = {"slash": "/", "question_mark": "?", "escape": "escape", "enter": "enter"}
    return {name: " or ".join(spoken.get(p.strip(), p.strip()) for p in keys.split(","))
            for name, keys in shown.items()}


def help_text(keymap: Mapping[str, str] | None = None) -> Text:
    """The loop screen's help, naming the keys as ``keymap`` (the app's [keymap] actions) binds them."""
    k = key_names(keymap)
    text = help_lines(COMMANDS)
    text.append("Anything else you type is your own text: your reflection on the error set in blind mode, your "
                "own feedback or candidate while such a review is open (until you press Done), otherwise your "
                "reflection on the next error set, shown as pending until it is used (/withdraw takes it back).\n",
                style="italic")
    text.append(f"On a focused card: {k['accept']} accept · {k['edit']} edit · {k['reject']} reject · the rubric's "
                f"keys (1, 2, …) toggle labels · {k['expand']} types a rationale (or expands a decided card) · "
                f"{k['undo']} undo · {k['next']} next undecided card · {k['done']} done. {k['command']} (or a paste) "
                f"opens the input line from anywhere, {k['leave-input']} leaves it; the status bar says where keys "
                f"go; {k['scores']} shows the scores; ctrl+p the command palette. The [keymap] table of the config "
                "file changes the keys.", style="italic")
    return text


def packet_help_text(keymap: Mapping[str, str] | None = None) -> Text:
    k = key_names(keymap)
    text = help_lines(available("packet"), packet=True)
    text.append("Text typed in the line below is your reflection on the error set that asks for it.  On a card: "
                f"{k['accept']} accept · {k['edit']} edit · {k['reject']} reject · the rubric's keys toggle labels · "
                f"{k['expand']} types a rationale · {k['undo']} undo · {k['next']} next undecided card.", style="italic")
    return text
