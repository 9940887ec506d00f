"""The input line at the bottom: free text (the person's own reflection or
proposal) or a command starting with '/'."""
from __future__ import annotations

from textual.suggester import SuggestFromList

from reflectloop.tui.slash_commands import available
from reflectloop.tui.widgets.input.fields import LineInput


def suggestions(where: str = "loop") -> list[str]:
    """What the input line completes to on the loop screen or in an annotation packet."""
    return [s for c in available(where) for s in c.suggestions]


class CommandLine(LineInput):
    PLACEHOLDER = "your reflection or own proposal, or a command (/help)"

    def __init__(self, *, id: str | None = None, where: str = "loop") -> None:
        super().__init__(
            placeholder=self.PLACEHOLDER,
            suggester=SuggestFromList(suggestions(where), case_sensitive=False),
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
