"""What the review desk (``tui.screens.loop.desk``) needs of its screen: the
loop screen is one, and the desk never imports it."""
from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual.widget import Widget

from reflectloop.tui.reviewer import TuiReviewer
from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.status import StatusBar
from reflectloop.tui.widgets.transcript import Transcript


class DeskHost(Protocol):
    """What the desk needs of its screen (the loop screen is one)."""

    reviewer: TuiReviewer

    @property
    def transcript(self) -> Transcript: ...

    @property
    def command_line(self) -> CommandLine: ...

    @property
    def status(self) -> StatusBar: ...

    @property
    def focused(self) -> Widget | None: ...

    def on_top(self) -> bool:
        """The screen is the one shown (no modal over it)."""
        ...

    def say(self, text: str | Text, level: str = "info") -> None: ...
