"""Parsing the input line's commands; the loop screen carries them out."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from tui.widgets.input import COMMANDS


@dataclass(frozen=True)
class Command:
    name: str  # without the slash: "next", "run", ...
    args: tuple[str, ...]
    text: str


class CommandError(ValueError):
    pass


NAMES = {key.split()[0][1:] for key in COMMANDS} | {"skip"}


def parse(text: str) -> Command:
    parts = text.strip().split()
    if not parts or not parts[0].startswith("/"):
        raise CommandError("a command starts with '/'")
    name = parts[0][1:].lower()
    if name not in NAMES:
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


def help_text() -> Text:
    text = Text("commands\n", style="bold")
    width = max(len(k) for k in COMMANDS)
    for key, what in COMMANDS.items():
        text.append(f"  {key:<{width}}  ", style="bold")
        text.append(what + "\n")
    text.append("Anything else you type is your own text: your reflection on the error set in blind mode, your "
                "own feedback or candidate while such a review is open (until you press Done), otherwise your "
                "reflection on the next error set, shown as pending until it is used (/withdraw takes it back).\n",
                style="italic")
    text.append("On a focused card: a accept · e edit · r reject · the rubric's keys (1, 2, …) toggle labels · "
                "enter types a rationale (or expands a decided card) · u undo · n next undecided card · d done. "
                "/ (or a paste) opens the input line from anywhere, escape leaves it; the status bar says where "
                "keys go; F2 shows the scores.", style="italic")
    return text
