"""The loop screen's commands and the seam, through Pilot with scripted
models and real session files: ``/run N``, ``/pause``, ``/blind off``,
``/export csv|hf``, Ctrl+S on the start screen, a truncated proposal on its
card, and one decision record per key press.

Assertions are on the app's messages (``message_hook``), its state and the
files it writes; ``wait_for`` only bounds how long to wait.
"""
from __future__ import annotations

import json

from textual.widgets import Input

from reflectloop.sessions.export import read_export
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.store import SessionStore
from tests.scripted import cut
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    REFINE,
    REFLECT,
    SIZE,
    Injector,
    Recorder,
    default_rules,
    finish_step0,
    last_line,
    loop_screen,
    open_cards,
    plain,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import (
    ProposalArrived,
    ReflectRequested,
    ReviewRequested,
    RunIdle,
    RunOpened,
    RunRequested,
    StepFinished,
)
from reflectloop.tui.screens.loop import RunState
from reflectloop.tui.screens.start import StartScreen
from reflectloop.tui.widgets.review import ReflectPrompt


async def accept_until(pilot, done, *, what: str) -> None:
    """Accept every card that opens, and close each review, until ``done()`` holds."""
    while not done():
        cards = open_cards(pilot.app)
        if cards:
            cards[0].focus()
            await pilot.press("a")
        elif loop_screen(pilot.app).desk.reviews:
            await pilot.press("d")  # every card decided: the focus is on the Done button
        else:
            await wait_for(pilot, lambda: done() or open_cards(pilot.app), what=what)


def decision_lines(session) -> dict[str, int]:
    """proposal id -> how many lines of the session's log write its decision."""
    counts: dict[str, int] = {}
    for line in (session / LOG_NAME).read_text().splitlines():
        for doc in json.loads(line).get("put", {}).get("decisions", {}).values():
            counts[doc["proposal_id"]] = counts.get(doc["proposal_id"], 0) + 1
    return counts


async def test_one_key_press_is_one_decision_record(tmp_path):
    session = tmp_path / "once.session"
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(steps=1), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await wait_open(pilot, "candidate")
        assert decision_lines(session) == {}
        await pilot.press("a")  # the first of two: the review stays open
        await wait_for(pilot, lambda: cards[0].decision is not None, what="the first decision")
        first = cards[0].proposal.id
        assert decision_lines(session) == {first: 1}  # on disk before the review is complete
        await pilot.press("r", "d")
        await wait_for(pilot, lambda: hook.of(StepFinished), what="step 0")
        await pilot.press("escape", "q")
    assert decision_lines(session) == {c.proposal.id: 1 for c in cards}
    with SessionStore.open(session, read_only=True) as store:
        decided = {pid: (d.kind, d.by) for pid, d in store.decisions().items()}
    assert decided == {cards[0].proposal.id: ("accept", "human"), cards[1].proposal.id: ("reject", "human")}


async def test_run_n_runs_exactly_n_steps(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(steps=5), session=tmp_path / "run.session", injected=Injector(),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/run 2")
        await accept_until(pilot, lambda: len(hook.of(RunIdle)) == 2, what="steps 1 and 2")
        screen = loop_screen(app)
        assert screen.driver.state is RunState.IDLE and screen.driver.pending == 0
        await submit(pilot, "/run two")
        assert "/run takes a number of steps" in last_line(screen)
        await pilot.press("escape", "q")
    assert [m.record.step for m in hook.of(StepFinished)] == [0, 1, 2]
    idle = hook.of(RunIdle)[-1]
    assert (idle.reason, idle.next_step) == ("paused", 3)


async def test_pause_stops_after_the_step_under_way(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(steps=5), session=tmp_path / "pause.session", injected=Injector(),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/run 3")
        await wait_open(pilot, "feedback")  # step 1 waits on the review
        screen = loop_screen(app)
        assert screen.driver.pending == 2
        await submit(pilot, "/pause")
        assert "pausing after the current step" in last_line(screen) and screen.driver.pending == 0
        await accept_until(pilot, lambda: len(hook.of(RunIdle)) == 2, what="step 1 to end")
        await pilot.press("escape", "q")
    assert [m.record.step for m in hook.of(StepFinished)] == [0, 1]
    assert hook.of(RunIdle)[-1].next_step == 2
    assert not [m for m in hook.of(ReviewRequested) if m.request.step == 2]


async def test_blind_off_answers_the_waiting_request_with_nothing(tmp_path):
    hook = Recorder()
    # Candidates that leave errors, so step 2 reflects again.
    rules = default_rules(**{REFINE: "<START>Answer HALF again.<END><START>Answer HALF twice.<END>"})
    app = ReflectLoopApp(config=tui_config(steps=3), session=tmp_path / "blind.session", injected=Injector(rules),
                         autostart=True, blind=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        assert screen.reviewer.blind and screen.status.blind
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        await wait_for(pilot, lambda: hook.of(ReflectRequested), what="the request for your reflection")
        future = hook.of(ReflectRequested)[0].future
        await submit(pilot, "/blind off")
        assert future.done() and future.result() == ()
        assert not screen.reviewer.blind and not screen.status.blind and not screen.desk.reflects
        assert screen.query_one(ReflectPrompt).answered
        await wait_open(pilot, "feedback")
        await accept_until(pilot, lambda: len(hook.of(StepFinished)) == 2, what="step 1")
        await submit(pilot, "/next")  # blind mode is off: no request before the feedback
        await wait_open(pilot, "feedback")
        await pilot.press("escape", "q")
    assert len(hook.of(ReflectRequested)) == 1
    assert not [m for m in hook.of(ProposalArrived) if m.proposal.author == "human"]


async def test_export_csv_and_hf_from_the_tui(tmp_path):
    session = tmp_path / "exp.session"
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        screen = loop_screen(app)
        for fmt, out in (("csv", tmp_path / "exp.csv"), ("hf", tmp_path / "exp-hf")):
            await submit(pilot, f"/export {fmt}")
            await wait_for(pilot, lambda: "written to" in last_line(screen), what=f"the {fmt} export")
            assert last_line(screen).endswith(f"written to {out}") and out.exists()
            await submit(pilot, "/help")  # so the next answer is a new last line
        await pilot.press("q")
    with SessionStore.open(session, read_only=True) as store:
        decided = {pid: d.kind for pid, d in store.decisions().items()}
    assert len(decided) == 2
    for out in (tmp_path / "exp.csv", tmp_path / "exp-hf"):
        rows = [row for _, row in read_export(out)]
        assert {r["proposal_id"]: r["decision"] for r in rows} == decided
    assert (tmp_path / "exp-hf" / "README.md").is_file() and (tmp_path / "exp-hf" / "data" / "train.jsonl").is_file()


async def test_ctrl_s_starts_the_form_from_any_field(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        start = app.screen
        assert isinstance(start, StartScreen)
        seed = start.query_one("#seed", Input)
        seed.focus()
        seed.value = "x"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "seed must be a whole number, not 'x'" in plain(start.query_one("#form-error"))
        assert not hook.of(RunRequested) and app.screen is start
        seed.value = "7"
        start.query_one("#beam", Input).focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: hook.of(RunOpened), what="the run to open")
        assert loop_screen(app).config.seed == 7
        await pilot.press("escape", "q")
    requested = {id(m): m for m in hook.of(RunRequested)}  # it bubbles: each pump on the way sees it
    assert [m.config.seed for m in requested.values()] == [7]
    assert hook.of(RunOpened)[0].config.seed == 7


async def test_a_truncated_proposal_says_so_on_its_card(tmp_path):
    cut_off = lambda text, params: cut("<START>it ignores the number<END><START>too va")
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "cut.session",
                         injected=Injector(default_rules(**{REFLECT: cut_off})), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        for card in await wait_open(pilot, "candidate"):
            assert not card.query(".card-warning")  # a whole answer: no warning
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        feedback = await wait_open(pilot, "feedback")
        assert feedback and all(c.proposal.truncated for c in feedback)
        for card in feedback:
            warnings = [plain(w) for w in card.query(".card-warning")]
            assert any("cut off by its token limit" in w for w in warnings)
        await pilot.press("escape", "q")


async def test_a_resumed_review_writes_no_decision_twice(tmp_path):
    session = tmp_path / "again.session"
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        await accept_until(pilot, lambda: open_cards(app) and open_cards(app)[0].proposal.kind == "candidate",
                           what="the candidates of step 1")
        await pilot.press("a")  # one candidate decided, one open: quit mid-review
        await pilot.pause()
        await pilot.press("escape", "q")
    before = decision_lines(session)
    assert before and set(before.values()) == {1}
    hook2 = Recorder()
    app2 = ReflectLoopApp(config=tui_config(), session=session, injected=Injector())
    async with app2.run_test(size=SIZE, message_hook=hook2) as pilot:
        await accept_until(pilot, lambda: hook2.of(StepFinished), what="the resumed step")
        await pilot.press("escape", "q")
    after = decision_lines(session)
    assert {pid: n for pid, n in after.items() if pid in before} == before  # the replayed ones: not again
    assert len(after) == len(before) + 1 and set(after.values()) == {1}


async def test_a_resumed_session_takes_only_the_resumable_overrides(tmp_path):
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.service import open_run

    session = tmp_path / "more.session"
    run = open_run(tui_config(steps=1), AutoReviewer(), session=session, injected=Injector())
    await run.drive()
    await run.close()
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=session, overrides={"steps": 2, "beam": 4}, injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_for(pilot, lambda: hook.of(RunOpened), what="the session to open")
        # The message is handled before the screen has written its line: wait for the line.
        await wait_for(pilot, lambda: "1 steps done: /next runs step 1" in last_line(loop_screen(app)),
                       what="the resumed session's line")
        await submit(pilot, "/next")
        await accept_until(pilot, lambda: hook.of(RunIdle), what="step 1")
        await pilot.press("escape", "q")
    opened = hook.of(RunOpened)[0]
    assert opened.resumed and (opened.config.steps, opened.config.beam) == (2, tui_config().beam)
    assert [m.record.step for m in hook.of(StepFinished)] == [1] and hook.of(RunIdle)[0].reason == "finished"


def test_every_command_the_input_line_accepts_has_a_handler():
    from reflectloop.tui.screens.loop.command_table import LoopCommands
    from reflectloop.tui.slash_commands import BY_NAME

    assert set(LoopCommands(screen=None).table) == set(BY_NAME)
