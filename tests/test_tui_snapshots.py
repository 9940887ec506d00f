"""Snapshots of the start screen and of the loop screen in the middle of a
review (scripted models, fixed sizes, a fixed session name).

Update the baselines with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at them (``tests/__snapshots__/test_tui_snapshots/*.svg``) before committing.
"""
from __future__ import annotations

from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Injector,
    loop_screen,
    quiet_terminal,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.screens.loop import RunState
from reflectloop.tui.widgets.transcript import StepSummary


def test_start_screen(snap_compare):
    app = ReflectLoopApp(config=tui_config(task="gen:navigate", target="local:smollm2", optimizer="local:smollm2"))
    assert snap_compare(app, terminal_size=SIZE)


def test_loop_screen_mid_review(snap_compare, tmp_path):
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "snapshot.session", injected=Injector(),
                         autostart=True)

    async def to_the_feedback_review(pilot):
        screen = loop_screen(pilot.app)
        for _ in await wait_open(pilot, "candidate", what="the initial prompts"):
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")  # done with the initial prompts
        # Idle, and the screen has handled it (the status says so): the focus is where step 0 left it.
        await wait_for(pilot, lambda: screen.query(StepSummary) and screen.driver.state is RunState.IDLE
                       and screen.status.phase == "idle", what="step 0")
        await pilot.press("n")  # the focus is on the transcript after Done: n is the next step
        cards = await wait_open(pilot, "feedback", what="the feedback cards")
        await pilot.press("a")  # one decided (collapsed), two open
        await wait_for(pilot, lambda: pilot.app.focused is cards[1], what="the focus on the next card")

    assert snap_compare(app, terminal_size=SIZE, run_before=to_the_feedback_review)
