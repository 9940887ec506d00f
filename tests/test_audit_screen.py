"""The TUI's Audit screen shows the same tables as ``reflectloop audit``."""
from __future__ import annotations

import asyncio

from textual.app import App
from textual.widgets import DataTable, Static

from core.analysis import audit, render_text, session_tables
from sessions.audit_data import load_session
from tests.test_audit import build_session
from tui.screens.audit import AuditScreen, AuditTable, AuditView


async def _until(pilot, predicate, what: str, ceiling: float = 60.0):
    """Let the app work until ``predicate()`` holds (a ceiling, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ceiling
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


class Host(App):
    def __init__(self, screen):
        super().__init__()
        self._audit_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._audit_screen)


async def test_audit_screen_shows_the_command_line_numbers(tmp_path):
    session = build_session(tmp_path / "hand.session")
    expected = session_tables(audit(load_session(session)))
    screen = AuditScreen(session)
    app = Host(screen)
    async with app.run_test(size=(160, 50)) as pilot:
        await _until(pilot, lambda: screen.result is not None or screen.error, "the audit")
        assert screen.error is None
        await _until(pilot, lambda: len(screen.query(AuditTable)) == len(expected), "the tables")
        view = screen.query_one(AuditView)
        assert view.values() == [row for t in expected for row in t.rows]
        human = next(t for t in screen.query(AuditTable) if t.table.key == "human_llm")
        grid = human.query_one(DataTable)
        assert grid.row_count == 2
        verdicts = [str(grid.get_row_at(i)[11]) for i in range(2)]
        assert verdicts == ["win (p<0.05)", "tie (n.s.)"]
        status = str(screen.query_one("#audit-status", Static).render())
        assert "hand.session" in status and "tfidf" in status
        # The notes carry the significance rule, as in the text output.
        assert "McNemar" in render_text(expected)
        await pilot.press("escape")
        await _until(pilot, lambda: screen not in app.screen_stack, "the screen to close")


async def test_audit_screen_reports_a_bad_path(tmp_path):
    screen = AuditScreen(tmp_path / "nothing-here")
    app = Host(screen)
    async with app.run_test(size=(120, 30)) as pilot:
        await _until(pilot, lambda: screen.error is not None, "the failure")
        assert "neither a session" in screen.error
        assert "audit failed" in str(screen.query_one("#audit-status", Static).render())
