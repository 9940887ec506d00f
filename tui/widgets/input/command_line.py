"""The input line at the bottom: free text (the person's own reflection or
proposal) or a command starting with '/'."""
from __future__ import annotations

from textual.suggester import SuggestFromList

from reflectloop.tui.slash_commands import COMMANDS
from reflectloop.tui.widgets.input.fields import LineInput

SUGGESTIONS = [s for c in COMMANDS for s in c.suggestions]


class CommandLine(LineInput):
    PLACEHOLDER = "your reflection or own proposal, or a command (/help)"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder=self.PLACEHOLDER,
            suggester=SuggestFromList(SUGGESTIONS, case_sensitive=False),
            id=id,
            select_on_focus=False,
        )

    def start(self, text: str) -> str:
        """A new line holding exactly ``text``, the cursor after it; returns the
        line it replaced (empty when that was blank or a bare ``/``), to be shown, not lost."""
        draft = self.value
        self.value = text
        self.cursor_position = len(text)
        return "" if draft.strip() in ("", "/") else draft
