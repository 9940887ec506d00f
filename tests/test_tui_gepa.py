"""GEPA in the TUI: its iterations, gates and Pareto front reach the transcript
as lines of their own (every event of the loop has a message or a note), and
an iteration's proposals are reviewed side by side, each gate under its candidate."""
from __future__ import annotations

import asyncio

from tests.test_gepa_loop import RULES
from textual.widgets import Static

from tests.tui_fixtures import (Injector, Recorder, SIZE, finish_step0, last_line, loop_screen,  # noqa: F401
                                open_cards, plain, quiet_terminal, submit, tui_config, wait_for)
from reflectloop.core.review import ReviewRequest
from reflectloop.core.types import Prompt, Proposal, ProposalId
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import (DecisionArrived, GroupDone, NoteArrived, ProposalArrived, ReviewRequested,
                                      RoundDone, RunIdle, StepFinished)
from reflectloop.tui.widgets.review import ReviewGroup
from reflectloop.tui.widgets.review.round import RoundColumn, RoundGroup
from reflectloop.tui.widgets.transcript import NoteLine


async def test_a_gepa_step_shows_its_iterations_gates_and_front(tmp_path):
    hook = Recorder()
    config = tui_config(method="gepa", steps=3, errors=2, gepa_iterations=3, test_size=0)
    injector = Injector(rules=RULES)
    app = ReflectLoopApp(config=config, session=tmp_path / "gepa.session", injected=injector, autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_for(pilot, lambda: hook.of(ReviewRequested), what="the initial prompts' review")
        await submit(pilot, "/auto")
        await wait_for(pilot, lambda: hook.of(RunIdle), timeout=60, what="the run to finish")
        lines = [str(line.render()) for line in app.screen.query(NoteLine)]
        await pilot.press("escape", "q")
    records = [m.record for m in hook.of(StepFinished)]
    picks = [p for r in records for p in r.picks]
    gates = [g for r in records for g in r.gates]
    notes = [m.text for m in hook.of(NoteArrived)]
    iterations = [n for n in notes if " reflecting on " in n]
    # One line per iteration that was not skipped, one note per gate, a front line per accepted gate.
    assert len(iterations) == len([p for p in picks if not p.skipped]) > 0
    assert len([n for n in notes if ": accepted" in n or ": rejected" in n]) == len(gates) > 0
    accepted = [g for g in gates if g.accepted]
    fronts = [n for n in notes if n.startswith("Pareto front: ")]
    assert len(fronts) == len(accepted) > 0  # the scripted draws make some candidates better
    assert all(pid in fronts[-1] for pid in records[-1].front)
    assert any("Pareto front" in line or "reflecting on" in line for line in lines)


async def test_a_parallel_round_is_reviewed_as_one_group_with_each_gate_under_its_candidate(tmp_path):
    """--gepa-sampling independent:3: the iteration's proposals are asked at once,
    and their reviews open side by side in one round, a column each; after the
    gate, each column says what it decided about its candidate."""
    hook = Recorder()
    config = tui_config(method="gepa", steps=2, errors=3, gepa_iterations=1, gepa_sampling="independent:3",
                        test_size=0, seed=10)  # a seed whose round tries all three, one candidate passing
    app = ReflectLoopApp(config=config, session=tmp_path / "round.session", injected=Injector(rules=RULES),
                         autostart=True)
    async with app.run_test(size=(160, 60), message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")

        def feedback_open():
            requests = [m.request for m in hook.of(ReviewRequested) if m.request.step == 1]
            return len(requests) == 3 and all(r.kind == "feedback" for r in requests)

        # The three reflections wait on the person at once: the round's proposals run together.
        await wait_for(pilot, feedback_open, what="the round's three feedback reviews")
        await wait_for(pilot, lambda: len(open_cards(app)) >= 3, what="their cards")
        rounds = list(app.screen.query(RoundGroup))
        assert [(r.step, r.iteration) for r in rounds] == [(1, 0)]
        columns = list(rounds[0].query(RoundColumn))
        assert [c.column for c in columns] == [0, 1, 2]  # in plan order
        await pilot.pause()
        regions = [c.region for c in columns]  # side by side: one row, left to right, none empty
        assert len({r.y for r in regions}) == 1 and regions[0].x < regions[1].x < regions[2].x
        assert all(r.width >= 20 for r in regions)
        column_of = {c.proposal.id: next(a for a in c.ancestors if isinstance(a, RoundColumn)) for c in open_cards(app)}
        assert {c.column for c in column_of.values()} == {0, 1, 2}
        assert all(c in rounds[0].columns.values() for c in column_of.values())
        await submit(pilot, "/auto")
        await wait_for(pilot, lambda: hook.of(StepFinished) and len(hook.of(StepFinished)) == 2, timeout=60,
                       what="step 1 to finish")
        await pilot.pause()
        record = hook.of(StepFinished)[-1].record
        shown = {c.column: (c.gate, plain(c.query_one(".round-gate", Static))) for c in rounds[0].query(RoundColumn)}
        kinds = {k: [g.kind for g in c.query(ReviewGroup)] for k, c in rounds[0].columns.items()}
        await pilot.press("escape", "q")
    assert [p.task for p in record.picks] == [0, 1, 2]
    assert sorted(g.accepted for g in record.gates) == [False, False, True]
    for gate in record.gates:
        got, text = shown[gate.task]
        assert got == gate and gate.candidate_id in text
        assert ("accepted" in text) == gate.accepted and ("rejected" in text) == (not gate.accepted)
    # Each column holds its pick's feedback, then its candidate review.
    assert kinds == {k: ["feedback", "candidate"] for k in (0, 1, 2)}


async def _round_open(pilot, app, hook, kind: str, n: int = 3) -> list[ReviewRequested]:
    """Step 1's ``n`` reviews of ``kind`` open, their cards shown: the messages that asked."""
    def asked():
        asks = [m for m in hook.of(ReviewRequested) if m.request.step == 1 and m.request.kind == kind]
        return asks if len(asks) == n and len([c for c in open_cards(app) if c.proposal.kind == kind]) >= n else None

    return await wait_for(pilot, asked, what=f"the round's {n} {kind} reviews")


def _column(card) -> int:
    return next(a for a in card.ancestors if isinstance(a, RoundColumn)).column


def _round_app(session, autostart: bool = True) -> ReflectLoopApp:
    config = tui_config(method="gepa", steps=2, errors=3, gepa_iterations=1, gepa_sampling="independent:3",
                        test_size=0, seed=10)  # as above: the round tries all three
    return ReflectLoopApp(config=config, session=session, injected=Injector(rules=RULES), autostart=autostart)


async def _to_the_round(pilot, hook) -> list[ReviewRequested]:
    """Step 0 done, step 1 started: its round's three feedback reviews open."""
    await finish_step0(pilot, hook)
    await submit(pilot, "/next")
    return await _round_open(pilot, pilot.app, hook, "feedback")


async def test_one_done_closes_the_reviews_of_every_column_of_a_round(tmp_path):
    """independent:3: the person decides the round's cards left to right (the
    status bar numbering them across the columns) and presses Done once: the
    three feedback reviews close together, then the three candidate reviews."""
    hook = Recorder()
    app = _round_app(tmp_path / "one-done.session")
    async with app.run_test(size=(160, 60), message_hook=hook) as pilot:
        asks = await _to_the_round(pilot, hook)
        screen = app.screen
        await pilot.press("escape")  # out of the input line: the first undecided card
        await wait_for(pilot, lambda: getattr(app.focused, "is_open", False), what="an open card in focus")
        stepped = [_column(app.focused)]
        for _ in range(3):  # n: the next undecided card, left to right across the columns, wrapping round
            await pilot.press("n")
            await pilot.pause()
            stepped.append(_column(app.focused))
        walked = []
        for _ in range(3):
            await wait_for(pilot, lambda: getattr(app.focused, "is_open", False), what="an open card in focus")
            await pilot.pause()  # the focus event reaches the screen, which says where the keys go
            walked.append((_column(app.focused), plain(screen.status)))
            await pilot.press("a")
            await pilot.pause()
        (round_,) = screen.query(RoundGroup)
        await wait_for(pilot, lambda: app.focused is round_.done_button, what="the round's Done in focus")
        assert "keys → Done" in plain(screen.status)
        assert not any(m.future.done() for m in asks)  # decided, not done: nothing was closed by a keystroke
        await pilot.press("enter")  # the round's one Done
        await wait_for(pilot, lambda: all(m.future.done() for m in asks), what="the three feedback reviews closed")
        candidates = await _round_open(pilot, app, hook, "candidate")
        for _ in range(3):
            await wait_for(pilot, lambda: getattr(app.focused, "is_open", False), what="an open candidate in focus")
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: len(hook.of(StepFinished)) == 2, timeout=60, what="step 1 to finish")
        await pilot.press("escape", "q")
    assert stepped == [0, 1, 2, 0]
    assert [(k, f"keys → card {k + 1}/3" in status) for k, status in walked] == [(0, True), (1, True), (2, True)]
    # One Done press for the three feedback reviews (the hook sees a message at each widget it bubbles through).
    assert len({id(m) for m in hook.of(RoundDone)}) == 1 and not hook.of(GroupDone)
    for ask in [*asks, *candidates]:  # each review still got its own result: every proposal's decision
        result = ask.future.result()
        assert set(result.decisions) == {p.id for p in ask.request.proposals}
        assert all(d.kind == "accept" and d.by == "human" for d in result.decisions.values())
    recorded = [m.decision for m in hook.of(DecisionArrived) if m.decision.proposal_id.startswith("s1/")]
    assert sorted(d.proposal_id for d in recorded) == sorted(p.id for a in [*asks, *candidates]
                                                            for p in a.request.proposals)


async def test_done_with_a_card_undecided_in_one_column_closes_none_and_says_which(tmp_path):
    hook = Recorder()
    app = _round_app(tmp_path / "undecided.session")
    async with app.run_test(size=(160, 60), message_hook=hook) as pilot:
        asks = await _to_the_round(pilot, hook)
        screen = loop_screen(app)
        by_column = {_column(c): c for c in open_cards(app)}
        for k in (0, 2):  # the middle column's card left undecided
            by_column[k].focus()
            await pilot.pause()
            await pilot.press("a")
            await pilot.pause()
        by_column[0].focus()
        await pilot.pause()
        await pilot.press("d")  # on a decided card of the round
        await pilot.pause()
        said_by_key = last_line(screen)
        (round_,) = screen.query(RoundGroup)
        round_.done_button.press()  # the round's own Done: the same answer
        await pilot.pause()
        said_by_button = last_line(screen)
        await submit(pilot, "/done")
        said_by_command = last_line(screen)
        closed_early = [m.future.done() for m in asks]
        round_count = plain(round_.query_one(".round-count", Static))
        by_column[1].focus()
        await pilot.pause()
        await pilot.press("a", "d")
        await wait_for(pilot, lambda: all(m.future.done() for m in asks), what="the round's reviews closed")
        await pilot.press("escape", "q")
    assert closed_early == [False, False, False]  # nothing undecided was decided, nothing closed
    for said in (said_by_key, said_by_button, said_by_command):
        assert "card 2/3 (proposal 2)" in said and "none of the 3 review(s) is closed" in said, said
    assert "left: card 2/3 (proposal 2)" in round_count
    assert not any(d.decision.proposal_id == by_column[1].proposal.id and d.decision.by != "human"
                   for d in hook.of(DecisionArrived))


async def test_a_review_of_the_round_arriving_after_done_needs_its_own_done(tmp_path):
    """Two columns' feedback reviews closed with the round's Done; the third
    column's, whose reflection came later, opens in its column on its own: the
    status numbers its cards alone, and closing it takes its own decision and Done."""
    hook = Recorder()
    app = _round_app(tmp_path / "late.session", autostart=False)  # no loop: the test asks for the reviews itself
    async with app.run_test(size=(160, 60), message_hook=hook) as pilot:
        screen = loop_screen(app)
        loop = asyncio.get_running_loop()

        async def ask(column: int) -> ReviewRequested:
            tag = f"i0.{column}." if column else "i0."
            p = Proposal(str(ProposalId(1, "s0/task/candidate/1", "feedback", tag, 0)), 1, "feedback",
                         "s0/task/candidate/1", f"feedback of column {column}")
            screen.post_message(ProposalArrived(p))
            request = ReviewRequest(1, "feedback", Prompt("s0/task/candidate/1", "Answer."), (), (p,), allow_add=True)
            message = ReviewRequested(request, {}, loop.create_future())
            screen.post_message(message)
            await wait_for(pilot, lambda: screen.desk.card(p.id) is not None and screen.desk.card(p.id).is_open,
                           what=f"column {column}'s card open")
            return message

        first = [await ask(0), await ask(1)]
        for _ in first:
            await wait_for(pilot, lambda: getattr(app.focused, "is_open", False), what="an open card in focus")
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: all(m.future.done() for m in first), what="the first two reviews closed")
        late = await ask(2)
        card = screen.desk.card(late.request.proposals[0].id)
        await wait_for(pilot, lambda: app.focused is card, what="the late card in focus")
        await pilot.pause()  # the focus event reaches the screen, which says where the keys go
        status = plain(screen.status)
        (round_,) = screen.query(RoundGroup)
        column = _column(card)
        await pilot.press("d")  # undecided: nothing closes
        await pilot.pause()
        refused = last_line(screen)
        still_open = not late.future.done()
        await pilot.press("a", "d")
        await wait_for(pilot, lambda: late.future.done(), what="the late review closed")
        await pilot.press("q")
    assert column == 2 and list(round_.columns) == [0, 1, 2]
    assert "keys → card 1/1" in status
    assert still_open and "card 1/1 (proposal 3)" in refused
    assert set(late.future.result().decisions) == {late.request.proposals[0].id}
