"""The TUI meeting a step whose evaluation failed beyond ``--max-errored``:
the stop is shown in the transcript and the status, nothing of the step is
recorded, the app stays alive, and once the fault is gone the next go redoes
the step.  Scripted models, real session files, Pilot."""
from __future__ import annotations

from reflectloop.core.llm.base import ProviderError
from reflectloop.core.types import Params
from reflectloop.sessions.store import SessionStore
from tests.scripted import optimizer_by_rules, scripted_llm, toy_target, toy_task
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Injector,
    Recorder,
    loop_screen,
    plain,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import RunFailed, StepFinished
from reflectloop.tui.widgets.transcript import StepSummary


class FailingTarget(Injector):
    """The toy models; while ``down``, every target call of a prompt saying GOOD (a step-1 candidate) fails for good."""

    def __init__(self):
        super().__init__()
        self.down = True

    def __call__(self, config):
        def target(text: str, params: Params) -> str:
            if self.down and "GOOD" in text:
                raise ProviderError("fake:target: HTTP 503: the endpoint is down", retryable=False, status=503)
            return toy_target(text, params)

        target_llm, tp = scripted_llm("fake:target", target, role="target", cache=self.cache)
        optimizer, op = scripted_llm("fake:opt", optimizer_by_rules(self.rules), role="optimizer", cache=self.cache)
        self.providers.append((tp, op))
        return toy_task(), target_llm, optimizer


async def test_an_evaluation_failed_beyond_max_errored_is_a_stop_shown_and_the_next_go_redoes_the_step(tmp_path):
    hook = Recorder()
    injector = FailingTarget()
    session = tmp_path / "down.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=injector, autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_open(pilot, "candidate")
        await submit(pilot, "/auto")
        await wait_for(pilot, lambda: hook.of(RunFailed), what="the stop")
        [stop] = hook.of(RunFailed)
        assert stop.stopped and stop.error.startswith("step 1: 6 of 6 dev examples of ")
        assert "more than --max-errored 0.1 allows" in stop.error and "HTTP 503: the endpoint is down" in stop.error
        screen = loop_screen(app)
        assert screen.run is None
        said = plain(screen.query(".system").last())
        assert said.startswith("stopped: step 1: ") and "/next resumes it" in said
        assert [m.record.step for m in hook.of(StepFinished)] == [0]
        with SessionStore.open(session, read_only=True) as store:
            assert [r.step for r in store.steps()] == [0]  # the failed step is not recorded
        await submit(pilot, "/help")  # still alive

        injector.down = False
        await submit(pilot, "/auto")
        await wait_for(pilot, lambda: len(hook.of(StepFinished)) == 2, what="step 1, redone")
        record = hook.of(StepFinished)[1].record
        assert record.step == 1 and record.dev_best == 1.0
        assert "1.000" in plain(screen.query(StepSummary).last())
        await pilot.press("escape", "q")
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]


async def test_a_prompt_scored_on_no_example_shows_a_dash_never_0(tmp_path):
    """Allowed to error (``max_errored`` 1), the step goes on: the candidate
    whose every call failed shows "—" and why, and is not in the beam."""
    from reflectloop.tui.widgets.transcript import EvaluationMessage

    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(max_errored=1.0), session=tmp_path / "dash.session",
                         injected=FailingTarget(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_open(pilot, "candidate")
        await submit(pilot, "/auto")
        await wait_for(pilot, lambda: len(hook.of(StepFinished)) == 2, what="step 1")
        record = hook.of(StepFinished)[1].record
        good = next(i for i, score in record.dev_scores.items() if score is None)
        assert good not in record.beam
        screen = loop_screen(app)
        shown = [plain(m.query_one(".evaluation-score")) for m in screen.query(EvaluationMessage)
                 if m.evaluation.prompt_id == good]
        assert shown and all(f"{good}: —" in s and "no example scored: all 6 errored" in s for s in shown)
        await pilot.press("escape", "q")
