"""GEPA in the TUI: its iterations, gates and Pareto front reach the transcript
as lines of their own (every event of the loop has a message or a note)."""
from __future__ import annotations

from tests.test_gepa_loop import RULES
from tests.tui_fixtures import Injector, Recorder, SIZE, quiet_terminal, submit, tui_config, wait_for  # noqa: F401
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import ReviewRequested, NoteArrived, RunIdle, StepFinished
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
