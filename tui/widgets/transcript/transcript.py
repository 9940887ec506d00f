from __future__ import annotations

from textual.containers import VerticalScroll


class Transcript(VerticalScroll):
    """Messages in arrival order, kept scrolled to the newest until the person scrolls away."""

    can_focus = True

    def on_mount(self) -> None:
        self.anchor()
