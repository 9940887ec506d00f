"""An error set: a table of the examples a prompt got wrong, with the full
text of the highlighted row below it (inputs are often long)."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from core.types import ErrorCase
from tui.widgets.text import clean, one_line

COLUMNS = ("#", "input", "gold", "output", "answer")


class ErrorTable(DataTable):
    DEFAULT_CSS = """
    ErrorTable { height: auto; max-height: 12; }
    """


class ErrorSet(Vertical):
    """``cases`` as a DataTable (input, gold, output, extracted answer)."""

    def __init__(self, cases: Sequence[ErrorCase], *, title: str = "", id: str | None = None) -> None:
        super().__init__(id=id, classes="error-set")
        self.cases = list(cases)
        self.title = title

    def compose(self) -> ComposeResult:
        if self.title:
            yield Static(Text(self.title, style="bold"), classes="error-set-title")
        if not self.cases:
            yield Static(Text("no errors", style="italic"), classes="error-set-empty")
            return
        table = ErrorTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*(Text(c) for c in COLUMNS))
        for k, case in enumerate(self.cases):
            table.add_row(
                Text(str(k + 1)),
                Text(one_line(case.input, 48)),
                Text(one_line(" | ".join(case.gold), 16)),
                Text(one_line(case.output, 40)),
                Text(one_line(case.answer if case.answer is not None else "(none)", 16)),
                key=str(k),
            )
        yield table
        yield Static(self._detail(0), classes="error-detail")

    def _detail(self, index: int) -> Text:
        case = self.cases[index]
        text = Text()
        text.append(f"example {index + 1} of {len(self.cases)} ({clean(case.example_id)})\n", style="bold")
        text.append("input: ", style="bold")
        text.append(clean(case.input))
        text.append("\ngold: ", style="bold")
        text.append(clean(" | ".join(case.gold)))
        text.append("\noutput: ", style="bold")
        text.append(clean(case.output))
        text.append("\nextracted answer: ", style="bold")
        text.append(clean(case.answer) if case.answer is not None else "(none)")
        return text

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            self.query_one(".error-detail", Static).update(self._detail(int(event.row_key.value)))
