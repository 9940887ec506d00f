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
    open_cards,
    past_step0,
    quiet_terminal,
    tui_config,
    wait_for,
    wait_open,
)
from tests.test_gepa_loop import RULES
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.widgets.review import ProposalCard
from reflectloop.tui.widgets.review.round import RoundColumn


def test_start_screen(snap_compare):
    app = ReflectLoopApp(config=tui_config(task="gen:navigate", target="local:smollm2", optimizer="local:smollm2"))
    assert snap_compare(app, terminal_size=SIZE)


def test_loop_screen_mid_review(snap_compare, tmp_path):
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "snapshot.session", injected=Injector(),
                         autostart=True)

    async def to_the_feedback_review(pilot):
        await past_step0(pilot)  # the focus is where step 0 left it
        await pilot.press("n")  # the focus is on the transcript after Done: n is the next step
        cards = await wait_open(pilot, "feedback", what="the feedback cards")
        await pilot.press("a")  # one decided (collapsed), two open
        await wait_for(pilot, lambda: pilot.app.focused is cards[1], what="the focus on the next card")

    assert snap_compare(app, terminal_size=SIZE, run_before=to_the_feedback_review)


def test_loop_screen_mid_gepa_round(snap_compare, tmp_path):
    """A GEPA round of three proposals side by side, two of its feedback cards
    decided: the round says which card is left before its one Done closes them."""
    config = tui_config(method="gepa", steps=2, errors=3, gepa_iterations=1, gepa_sampling="independent:3",
                        test_size=0, seed=10)
    app = ReflectLoopApp(config=config, session=tmp_path / "snapshot.session", injected=Injector(rules=RULES),
                         autostart=True)

    async def to_the_round(pilot):
        screen = loop_screen(pilot.app)
        await past_step0(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: len(open_cards(pilot.app)) == 3 and screen.status.waiting == "your review",
                       what="the round's three feedback cards")
        columns = {c.column: c for c in screen.query(RoundColumn)}
        for k in (0, 2):
            card = columns[k].query_one(ProposalCard)
            card.focus()
            await pilot.pause()
            await pilot.press("a")
            await pilot.pause()
        await wait_for(pilot, lambda: pilot.app.focused is columns[1].query_one(ProposalCard),
                       what="the focus on the card left")

    assert snap_compare(app, terminal_size=SIZE, run_before=to_the_round)
