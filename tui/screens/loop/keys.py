"""Where the loop screen's keys go, in words for the status bar."""
from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Button

from tui.widgets.review import ProposalCard, ReviewGroup


def keys_go_to(widget: Widget | None, line: Widget) -> str:
    """``card 2/4`` (or its rationale), ``input``, ``Done``, ``transcript``."""
    if widget is None:
        return "nowhere: / opens the input"
    if widget is line:
        return "input"
    card = next((w for w in (widget, *widget.ancestors) if isinstance(w, ProposalCard)), None)
    if card is not None:
        group = next((w for w in card.ancestors if isinstance(w, ReviewGroup)), None)
        where = f"card {card.index + 1}/{len(group.cards) if group else 1}"
        return where if widget is card else f"{where}'s rationale"
    if isinstance(widget, Button) and widget.name == "done":
        return "Done"
    return "transcript"
