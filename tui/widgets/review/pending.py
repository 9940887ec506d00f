"""A reflection typed while no review was open: kept for the next error set
the optimizer reflects on, shown as pending until it is used or withdrawn."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from reflectloop.tui.widgets.text import literal


class PendingReflection(Static):
    def __init__(self, text: str) -> None:
        super().__init__(classes="chat pending-reflection")
        self.text = text
        self.state = "pending"  # pending | used | withdrawn
        self.update(self._line(""))

    def _line(self, where: str) -> Text:
        mark = {"pending": ("⏳ pending reflection", "bold yellow"), "used": ("✓ your reflection", "bold green"),
                "withdrawn": ("✗ withdrawn", "dim")}[self.state]
        line = Text.assemble(mark, ": ", literal(self.text))
        if self.state == "pending":
            line.append("\nkept for the next error set the optimizer reflects on · /withdraw takes it back",
                        style="italic dim")
        elif where:
            line.append(f"  ({where})", style="dim")
        return line

    def used(self, where: str) -> None:
        self.state = "used"
        self.update(self._line(where))

    def withdraw(self) -> None:
        self.state = "withdrawn"
        self.update(self._line("not used"))
