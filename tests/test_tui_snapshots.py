"""Snapshots of the start screen and of the loop screen in the middle of a
review (scripted models, fixed sizes, a fixed session name).

Update the baselines with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at them (``tests/__snapshots__/test_tui_snapshots/*.svg``) before committing.
"""
from __future__ import annotations

import pytest

from tests.tui_fixtures import Injector, tui_config, wait_for
from tui.app import ReflectLoopApp
from tui.screens.loop import LoopScreen
from tui.widgets.review import ProposalCard
from tui.widgets.transcript import StepSummary

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def quiet_terminal(monkeypatch, tmp_path):
    """No cursor blink (stable frames), no user config file."""
    monkeypatch.setattr(ReflectLoopApp, "cursor_blink", False)
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(tmp_path / "no-user-config.toml"))


def test_start_screen(snap_compare):
    app = ReflectLoopApp(config=tui_config(task="gen:navigate", target="local:smollm2", optimizer="local:smollm2"))
    assert snap_compare(app, terminal_size=SIZE)


def test_loop_screen_mid_review(snap_compare, tmp_path):
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "snapshot.session", injected=Injector(),
                         autostart=True)

    async def to_the_feedback_review(pilot):
        screen = next(s for s in pilot.app.screen_stack if isinstance(s, LoopScreen))

        def open_cards(kind):
            cards = [c for c in pilot.app.screen.query(ProposalCard) if c.is_open]
            return cards if cards and cards[0].proposal.kind == kind else None

        for _ in await wait_for(pilot, lambda: open_cards("candidate"), what="the initial prompts"):
            await pilot.press("a")
            await pilot.pause()
        await wait_for(pilot, lambda: screen.query(StepSummary) and screen.worker.is_finished, what="step 0")
        await pilot.press("escape", "n")  # to the transcript, then the next step
        cards = await wait_for(pilot, lambda: open_cards("feedback"), what="the feedback cards")
        await pilot.press("a")  # one decided (collapsed), two open
        await wait_for(pilot, lambda: pilot.app.focused is cards[1], what="the focus on the next card")

    assert snap_compare(app, terminal_size=SIZE, run_before=to_the_feedback_review)
