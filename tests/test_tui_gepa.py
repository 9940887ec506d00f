"""GEPA in the TUI: its iterations, gates and Pareto front reach the transcript
as lines of their own (every event of the loop has a message or a note), and
an iteration's proposals are reviewed side by side, each gate under its candidate."""
from __future__ import annotations

from tests.test_gepa_loop import RULES
from textual.widgets import Static

from tests.tui_fixtures import (Injector, Recorder, SIZE, finish_step0, open_cards, plain, quiet_terminal,  # noqa: F401
                                submit, tui_config, wait_for)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import ReviewRequested, NoteArrived, RunIdle, StepFinished
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
