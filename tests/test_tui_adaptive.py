"""Adaptive evaluation in the TUI, driven through Pilot with scripted models
and a real session file: a candidate the race drops is shown as partial (and
kept out of the scores panel), the step summary says what the race saved,
and the status bar says which accepted candidates run in the background
while the review is still open."""
from __future__ import annotations

from reflectloop.sessions.store import SessionStore
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    REFINE,
    SIZE,
    Injector,
    Recorder,
    default_rules,
    finish_step0,
    loop_screen,
    plain,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import EvaluationArrived, StepFinished
from reflectloop.tui.widgets.scores import ScoresPanel
from reflectloop.tui.widgets.status import StatusBar
from reflectloop.tui.widgets.transcript import EvaluationMessage, StepSummary

# "Answer GOOD." is right on every dev example, "Answer badly." on none: the
# race drops the second after its first batch, short of the dev set.
RULES = default_rules(**{REFINE: "<START>Answer GOOD.<END><START>Answer badly.<END>"})
DEV = 6  # the toy task's dev set (tests.scripted.toy_task)


def status_text(app) -> str:
    return plain(loop_screen(app).query_one(StatusBar))


async def to_the_candidates(pilot, hook: Recorder):
    """Step 0 done, step 1's feedback accepted: the candidate cards of step 1, open."""
    await finish_step0(pilot, hook)
    await submit(pilot, "/next")
    for _ in await wait_open(pilot, "feedback"):
        await pilot.press("a")
        await pilot.pause()
    await pilot.press("d")
    return await wait_open(pilot, "candidate", what="step 1's candidates")


async def test_an_adaptive_step_in_the_transcript_the_status_bar_and_the_scores(tmp_path):
    hook = Recorder()
    session = tmp_path / "adaptive.session"
    app = ReflectLoopApp(config=tui_config(evaluation="adaptive"), session=session, injected=Injector(RULES),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        candidates = await to_the_candidates(pilot, hook)
        assert [c.proposal.text for c in candidates] == ["Answer GOOD.", "Answer badly."]
        assert "in the background" not in status_text(app)
        await pilot.press("a")  # accept "Answer GOOD.": its evaluation starts while the other card waits
        await wait_for(pilot, lambda: "evaluating 1 candidate in the background" in status_text(app),
                       what="the background evaluation in the status bar")
        assert screen.desk.reviews, "the review is still open"
        await pilot.press("a")
        await wait_for(pilot, lambda: "evaluating 2 candidates in the background" in status_text(app),
                       what="both candidates in the background")
        await pilot.press("d")
        await wait_for(pilot, lambda: hook.of(StepFinished)[1:], what="step 1")
        await pilot.pause()
        # Review closed, step over: nothing is said to run in the background.
        assert "in the background" not in status_text(app)

        record = hook.of(StepFinished)[1].record
        assert record.evaluation == "adaptive" and record.calls_saved > 0
        partial = [m.evaluation for m in hook.of(EvaluationArrived) if m.evaluation.partial]
        assert [ev.prompt_id for ev in partial] == [candidates[1].proposal.id]
        assert len(partial[0].results) < DEV

        lines = {m.evaluation.prompt_id: plain(m.query_one(".evaluation-score"))
                 for m in screen.query(EvaluationMessage) if m.step == 1 and m.evaluation.split == "dev"}
        dropped = lines[candidates[1].proposal.id]
        assert f"{partial[0].score:.3f} on {len(partial[0].results)} of {DEV}" in dropped
        assert "dropped by the race" in dropped
        full = lines[candidates[0].proposal.id]
        assert f"1.000  (0 errors of {DEV})" in full and "dropped" not in full

        summary = plain(screen.query(StepSummary).last())
        assert f"adaptive evaluation saved {record.calls_saved} calls" in summary

        # The scores panel plots the step's best, scored on the whole dev set, never the partial score.
        panel = screen.query_one(ScoresPanel)
        assert panel.records[1].dev_best == 1.0 and record.best_id == candidates[0].proposal.id
        table = plain(panel.query_one(".scores-table"))
        assert table.splitlines()[-1].split()[:2] == ["1", "1.000"]
        await pilot.press("escape", "q")
    with SessionStore.open(session, read_only=True) as store:
        assert store.steps()[1].calls_saved == record.calls_saved


async def test_a_full_step_says_nothing_of_a_race(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "full.session", injected=Injector(RULES),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        await to_the_candidates(pilot, hook)
        await pilot.press("a")  # full evaluation starts an accepted candidate at once too
        await wait_for(pilot, lambda: "evaluating 1 candidate in the background" in status_text(app),
                       what="the background evaluation in the status bar")
        await pilot.press("r")  # a rejection is not evaluated
        await wait_for(pilot, lambda: screen.desk.left() == 0, what="both cards decided")
        assert "evaluating 1 candidate in the background" in status_text(app)
        await pilot.press("u")  # undo the rejection: still one candidate in the background
        await pilot.pause()
        assert "evaluating 1 candidate in the background" in status_text(app)
        await pilot.press("r", "d")
        await wait_for(pilot, lambda: hook.of(StepFinished)[1:], what="step 1")
        record = hook.of(StepFinished)[1].record
        assert record.evaluation == "full"
        assert not any(m.evaluation.partial for m in hook.of(EvaluationArrived))
        assert "saved" not in plain(screen.query(StepSummary).last())
        assert not any("dropped by the race" in plain(m.query_one(".evaluation-score"))
                       for m in screen.query(EvaluationMessage))
        await pilot.press("escape", "q")


async def test_an_accepted_duplicate_is_not_said_to_run_in_the_background(tmp_path):
    # "Answer HALF." repeats an initial prompt: the loop drops it, so its acceptance starts nothing,
    # and the status bar counts only what the loop reports started.
    rules = default_rules(**{REFINE: "<START>Answer HALF.<END><START>Answer GOOD.<END>"})
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "twin.session", injected=Injector(rules),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        candidates = await to_the_candidates(pilot, hook)
        assert [c.proposal.text for c in candidates] == ["Answer HALF.", "Answer GOOD."]
        await pilot.press("a")  # the duplicate
        await wait_for(pilot, lambda: screen.desk.left() == 1, what="the first card decided")
        await pilot.pause()
        assert "in the background" not in status_text(app)
        await pilot.press("a")  # the new one: its evaluation starts
        await wait_for(pilot, lambda: "evaluating 1 candidate in the background" in status_text(app),
                       what="the background evaluation in the status bar")
        assert "evaluating 2" not in status_text(app)
        await pilot.press("d")
        await wait_for(pilot, lambda: hook.of(StepFinished)[1:], what="step 1")
        await pilot.press("escape", "q")
