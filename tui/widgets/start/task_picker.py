"""The built-in generators and the tasks found in --data-dir, to pick from."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from reflectloop.tui.widgets.text import clean


class TaskPicker(OptionList):
    def __init__(self, specs: list[str], *, id: str | None = None) -> None:
        super().__init__(*(Option(Text(clean(s)), id=s) for s in specs), id=id)
        self.specs = specs
