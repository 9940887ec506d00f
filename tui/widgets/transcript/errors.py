"""An error set: a table of the examples a prompt got wrong, with the full
text of the highlighted row below it (inputs are often long)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from reflectloop.core.types import ErrorCase
from reflectloop.tui.widgets.text import clean, one_line

COLUMNS = ("#", "input", "gold", "output", "answer")
# A graded metric's columns: shown only when some case carries a score or a
# feedback, so exact-match tasks keep their table as it was.
GRADED = ("score", "feedback")
# Preview widths of input, gold, output, answer (and feedback): narrower
# with the graded columns so the feedback stays in view on 120 columns; the
# detail below the table has every text in full.
WIDTHS = (48, 16, 40, 16)
GRADED_WIDTHS = (22, 12, 18, 10, 26)


class ErrorTable(DataTable):
    DEFAULT_CSS = """
    ErrorTable { height: auto; max-height: 12; }
    """


def graded(cases: Sequence[ErrorCase], failed: Mapping[str, str]) -> bool:
    return bool(failed) or any(c.score is not None or c.feedback for c in cases)


def score_cell(case: ErrorCase, failed: Mapping[str, str]) -> str:
    if case.example_id in failed:
        return "failed"
    return "–" if case.score is None else f"{case.score:.2f}"


def feedback_of(case: ErrorCase, failed: Mapping[str, str]) -> str:
    """The metric's feedback; for a failed example (a judge's unreadable
    verdict) its reply, else the cause of the failure."""
    return case.feedback or failed.get(case.example_id, "")


class ErrorSet(Vertical):
    """``cases`` as a DataTable (input, gold, output, extracted answer, and a
    graded metric's score and feedback).  ``failed`` maps the example id of a
    case whose scoring failed to the cause: it has no score, only its text."""

    def __init__(
        self, cases: Sequence[ErrorCase], *, title: str = "", failed: Mapping[str, str] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="error-set")
        self.cases = list(cases)
        self.title = title
        self.failed = dict(failed or {})

    def compose(self) -> ComposeResult:
        if self.title:
            yield Static(Text(self.title, style="bold"), classes="error-set-title")
        if not self.cases:
            yield Static(Text("no errors", style="italic"), classes="error-set-empty")
            return
        table = ErrorTable(cursor_type="row", zebra_stripes=True)
        with_grades = graded(self.cases, self.failed)
        table.add_columns(*(Text(c) for c in COLUMNS + (GRADED if with_grades else ())))
        widths = GRADED_WIDTHS if with_grades else WIDTHS
        for k, case in enumerate(self.cases):
            texts = [case.input, " | ".join(case.gold), case.output, case.answer if case.answer is not None else "(none)"]
            if with_grades:
                texts.append(feedback_of(case, self.failed))
            cells = [Text(str(k + 1)), *(Text(one_line(t, w)) for t, w in zip(texts, widths))]
            if with_grades:
                cells.insert(5, Text(score_cell(case, self.failed)))
            table.add_row(*cells, key=str(k))
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
        cause = self.failed.get(case.example_id)
        if cause is not None:
            text.append("\nscoring failed: ", style="bold")
            text.append(clean(cause))
        elif case.score is not None:
            text.append(f"\nscore: {case.score:.3f}", style="bold")
        if case.feedback:
            text.append("\nfeedback: " if cause is None else "\nreply: ", style="bold")
            text.append(clean(case.feedback))
        return text

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            self.query_one(".error-detail", Static).update(self._detail(int(event.row_key.value)))
