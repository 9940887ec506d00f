"""Input widgets that honour the app's cursor-blink setting (tests switch it off)."""
from __future__ import annotations

from textual.widgets import Input, TextArea


def _blink(widget) -> bool:
    return bool(getattr(widget.app, "cursor_blink", True))


class LineInput(Input):
    def on_mount(self) -> None:
        self.cursor_blink = _blink(self)


class EditArea(TextArea):
    def on_mount(self) -> None:
        self.cursor_blink = _blink(self)
