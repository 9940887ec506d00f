"""The TUI's Audit screen shows the audit of a session: on the hand-built
session of ``test_audit`` (whose right answers are known by construction),
the cells the screen's tables show are checked against values computed here
by hand, not against the audit code's own output."""
from __future__ import annotations

import asyncio
import math

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from tests.test_audit import H1, H1_RIGHT, H2_RIGHT, L1_RIGHT, L2_RIGHT, N, ROOT, ROOT_RIGHT, build_session
from reflectloop.tui.screens.audit import AuditScreen, AuditTable


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


def mcnemar_by_hand(llm_right: set[int], human_right: set[int]) -> float:
    """Exact two-sided McNemar p over the discordant pairs: 2 * P(X <= min(b, c)), X ~ Bin(b + c, 1/2)."""
    b, c = len(llm_right - human_right), len(human_right - llm_right)
    n = b + c
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n) if n else 1.0


def grid_rows(screen: AuditScreen, key: str) -> list[list[str]]:
    """The cells one table of the screen shows, as plain strings."""
    table = next(t for t in screen.query(AuditTable) if t.table.key == key)
    grid = table.query_one(DataTable)
    return [[str(cell) for cell in grid.get_row_at(i)] for i in range(grid.row_count)]


def p_shown(cell: str) -> float:
    return 0.0 if cell == "<0.001" else float(cell)


async def test_audit_screen_shows_the_numbers_of_the_session(tmp_path):
    session = build_session(tmp_path / "hand.session")
    screen = AuditScreen(session)
    app = Host(screen)
    async with app.run_test(size=(160, 50)) as pilot:
        await _until(pilot, lambda: screen.result is not None or screen.error, "the audit")
        assert screen.error is None
        await _until(pilot, lambda: screen.query(AuditTable), "the tables")
        # Scores per step: the dev best, the beam's mean and the best's test score of each step.
        curve = [[float(x) for x in row] for row in grid_rows(screen, "curve")]
        root, h1 = len(ROOT_RIGHT) / N, len(H1_RIGHT) / N
        assert curve == [[0, root, root, root], [1, h1, h1, h1], [2, h1, h1, h1]]
        # Human vs LLM: the refinements of each reflection, compared on the same dev examples.
        human = grid_rows(screen, "human_llm")
        assert [(row[0], row[1]) for row in human] == [("1", ROOT), ("2", H1)]
        for row, llm_right, human_right in zip(human, (L1_RIGHT, L2_RIGHT), (H1_RIGHT, H2_RIGHT)):
            n, llm, hum, diff, p = int(row[5]), float(row[6]), float(row[7]), float(row[8]), p_shown(row[10])
            assert (n, llm, hum) == (N, len(llm_right) / N, len(human_right) / N)
            assert diff == pytest.approx(hum - llm)
            expected_p = mcnemar_by_hand(llm_right, human_right)
            assert p == pytest.approx(expected_p, abs=5e-4)  # shown to 3 decimals
            assert row[11] == ("win (p<0.05)" if expected_p < 0.05 else "tie (n.s.)")
        # The notes under the table carry the significance rule, as in the text output.
        table = next(t for t in screen.query(AuditTable) if t.table.key == "human_llm")
        assert "McNemar" in str(table.query_one(".audit-notes", Static).render())
        status = str(screen.query_one("#audit-status", Static).render())
        assert "hand.session" in status and "tfidf" in status
        await pilot.press("escape")
        await _until(pilot, lambda: screen not in app.screen_stack, "the screen to close")


async def test_audit_screen_reports_a_bad_path(tmp_path):
    screen = AuditScreen(tmp_path / "nothing-here")
    app = Host(screen)
    async with app.run_test(size=(120, 30)) as pilot:
        await _until(pilot, lambda: screen.error is not None, "the failure")
        assert "neither a session" in screen.error
        assert "audit failed" in str(screen.query_one("#audit-status", Static).render())
