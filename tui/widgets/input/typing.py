"""Typed text goes to the input line, never to a card.

Textual chooses the widget a key or a paste goes to when the app takes the
event off its queue, and ``Widget.focus()`` only moves the focus later (a
callback queued behind the keys already typed).  So a command typed fast on
a focused card used to reach the card key by key, ``a`` accepting it and
``e`` opening its editor, while the ``/`` was still moving the focus.

:func:`route_typing` runs in the app as each key or paste arrives, before
Textual hands it out: on a screen with an input line, ``/`` (or the key
bound to the screen's ``command`` action) and a paste, outside a text field,
move the focus to the input line at once and put there what was typed.  Every
key queued after them then goes to the input, in order, however fast.
"""
from __future__ import annotations

from textual import events
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input, TextArea

from reflectloop.tui.widgets.input.command_line import CommandLine


def in_text_field(widget: Widget | None) -> bool:
    """Text typed here is text: an input line, a card's rationale, an editor."""
    return isinstance(widget, (Input, TextArea))


def one_line(text: str) -> str:
    """A paste for a one-line input: its lines joined by spaces, none dropped."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _opens_input(screen, event: events.Key) -> bool:
    if event.character == "/":
        return True
    active = screen.active_bindings.get(event.key)
    return active is not None and active.binding.action == "command"


def route_typing(screen, event: events.Key | events.Paste) -> bool:
    """Take ``event`` to ``screen``'s input line when it starts a line of
    text there; True when it was taken (the app then hands it to no one)."""
    # A screen with an input line (the chat screens) has a ``command_line`` property: asked of the
    # class, so that the keys of other screens cost no look-up in the DOM.
    if not isinstance(getattr(type(screen), "command_line", None), property) or in_text_field(screen.focused):
        return False
    if isinstance(event, events.Key) and not _opens_input(screen, event):
        return False
    if isinstance(event, events.Paste) and not one_line(event.text):
        return False  # nothing to type
    try:
        line = screen.command_line
    except NoMatches:  # not composed yet, or being taken down
        return False
    if not isinstance(line, CommandLine) or not line.focusable:
        return False
    text = "/" if isinstance(event, events.Key) else one_line(event.text)
    screen.set_focus(line)  # at once, not ``line.focus()``: the next key queued must find it focused
    draft = line.start(text)
    if draft and hasattr(screen, "say"):
        screen.say(f"your unfinished line was replaced by what you typed; it was: {draft}", level="warning")
    return True
