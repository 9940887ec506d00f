"""The Audit screen: the reflection audit of one or more sessions, as the
same tables ``reflectloop audit`` prints (one table model, ``core.analysis.
tables``), so the TUI, the command line and the HTML report show the same
numbers.

``AuditView`` is the widget (give it tables, or call ``show``);
``AuditScreen(paths)`` loads and audits in a worker thread and shows them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from reflectloop.core.analysis.tables import Table
from reflectloop.sessions.audit_run import AuditOptions, AuditRun, audit_paths, tables_for
from reflectloop.tui.slash_commands import bindings


class AuditTable(Static):
    """One table: its title, a DataTable of the rows, its notes and block."""

    DEFAULT_CSS = """
    AuditTable { height: auto; margin: 0 0 1 0; }
    AuditTable > DataTable { height: auto; max-height: 24; }
    AuditTable > DataTable > .datatable--cursor { background: transparent; }
    AuditTable > DataTable:focus > .datatable--cursor { background: $accent 40%; }
    AuditTable > .audit-title { text-style: bold; }
    AuditTable > .audit-notes { color: $text-muted; }
    """

    def __init__(self, table: Table, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = table

    def compose(self) -> ComposeResult:
        t = self.table
        yield Static(Text(t.title), classes="audit-title")
        if t.rows:
            grid: DataTable = DataTable(zebra_stripes=True, cursor_type="row", classes="audit-grid")
            grid.add_columns(*t.headers)
            width = len(t.headers)
            for row in t.rows:
                cells = [_cell(c) for c in row[:width]] + [""] * (width - len(row))
                grid.add_row(*cells)
            yield grid
        else:
            yield Static(Text("(nothing to show)", style="dim"))
        if t.notes:
            yield Static(Text("\n".join(f"• {n}" for n in t.notes)), classes="audit-notes")
        if t.block:
            yield Static(Text(t.block), classes="audit-block")


def _cell(value: str, limit: int = 60) -> Text:
    flat = " ".join(str(value).split())
    text = Text(flat if len(flat) <= limit else flat[: limit - 1] + "…")
    if flat.startswith("win (p<"):
        text.stylize("bold green")
    elif flat.startswith("loss (p<"):
        text.stylize("bold red")
    return text


class AuditView(VerticalScroll):
    """A scrollable column of audit tables."""

    DEFAULT_CSS = """
    AuditView { height: 1fr; padding: 0 1; }
    """

    def __init__(self, tables: Sequence[Table] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tables: list[Table] = list(tables)

    def compose(self) -> ComposeResult:
        for t in self.tables:
            yield AuditTable(t)

    async def show(self, tables: Sequence[Table]) -> None:
        self.tables = list(tables)
        await self.remove_children()
        await self.mount_all([AuditTable(t) for t in self.tables])

    def values(self) -> list[list[str]]:
        """Every row shown, for tests and copy-out."""
        return [row for t in self.tables for row in t.rows]


class AuditScreen(Screen[None]):
    """``AuditScreen(paths, options)``: escape closes it, r audits again."""

    BINDINGS = [
        *bindings("audit"),
    ]

    class Audited(Message):
        """The worker's audit, done."""

        def __init__(self, result: AuditRun) -> None:
            super().__init__()
            self.result = result
    DEFAULT_CSS = """
    AuditScreen #audit-status { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, paths: Path | str | Sequence[Path | str], options: AuditOptions | None = None) -> None:
        super().__init__()
        self.paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        self.options = options or AuditOptions()
        self.result: AuditRun | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"auditing {', '.join(p.name for p in self.paths)} …"), id="audit-status")
        yield AuditView(id="audit-view")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#audit-status", Static).update(Text(f"auditing {', '.join(p.name for p in self.paths)} …"))
        self._audit()

    @work(thread=True, exclusive=True, group="audit")
    def _audit(self) -> None:
        try:
            result = audit_paths(self.paths, self.options)
        except (OSError, ValueError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.post_message(self.Audited(result))  # thread-safe; its handler awaits the tables' mounting

    async def on_audit_screen_audited(self, message: Audited) -> None:
        result = message.result
        names = ", ".join(a.name for a in result.audits)
        self.query_one("#audit-status", Static).update(
            Text(f"audit of {names} · similarity {result.backend_name} · escape closes, r audits again")
        )
        await self.query_one(AuditView).show(tables_for(result))
        self.result, self.error = result, None  # last: whoever waits on it sees the tables mounted

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one("#audit-status", Static).update(Text(f"audit failed: {message}", style="bold red"))

    def action_close(self) -> None:
        self.app.pop_screen()
