"""Where the next key goes, as the status bar says it (``keys → card 2/4``).

Its own module because both the loop screen's key handling
(``tui.screens.loop.keys``) and the review desk say it, and the desk must not
import the screen's mixin that knows the desk."""
from __future__ import annotations

from typing import Callable

from textual.widget import Widget
from textual.widgets import Button

from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.review import ProposalCard, ReviewGroup


def keys_go_to(widget: Widget | None,
               position: Callable[[ProposalCard], tuple[int, int] | None] = lambda card: None) -> str:
    """``card 2/4`` (or its rationale), ``input``, ``Done``, ``transcript``; a
    card's number among its review's cards, or ``position``'s (a GEPA round's:
    across its columns, left to right)."""
    if widget is None:
        return "nowhere: / opens the input"
    if isinstance(widget, CommandLine):
        return "input"
    card = next((w for w in (widget, *widget.ancestors) if isinstance(w, ProposalCard)), None)
    if card is not None:
        group = next((w for w in card.ancestors if isinstance(w, ReviewGroup)), None)
        i, n = position(card) or (card.index + 1, len(group.cards) if group else 1)
        where = f"card {i}/{n}"
        return where if widget is card else f"{where}'s rationale"
    if isinstance(widget, Button) and widget.name == "done":
        return "Done"
    return "transcript"
