"""The run behind the loop screen: opened and stepped through the service
layer (``sessions.service``), one step after another in a Textual worker.

Where the run stands is one explicit :class:`RunState`; how many steps are
still asked for is ``pending`` (``/next``, ``/run N``) and how far ``/auto``
may go is ``until``.  What happens reaches the screen as messages: the
loop's events (``from_event``), ``RunOpened``, ``RunIdle`` and ``RunFailed``.
"""
from __future__ import annotations

import asyncio
from enum import Enum
from pathlib import Path
from typing import Protocol

from textual.message import Message
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from reflectloop.core.settings.config import RunConfig
from reflectloop.sessions.service import Injected, Run, is_session, open_run, session_path
from reflectloop.tui.messages import NoteArrived, RunFailed, RunIdle, RunOpened, from_event
from reflectloop.tui.reviewer import TuiReviewer
from reflectloop.tui.screens.loop.spent import session_spent


class RunState(Enum):
    NEW = "new"  # nothing on disk yet: the settings (the method) may still change
    SAVED = "saved"  # a session on disk, not open: before resuming it, or after a step broke off
    OPENING = "opening"
    IDLE = "idle"  # open, between steps
    STEPPING = "stepping"
    SHUT = "shut"  # shut down for good (quit, or replaced by another session)


class Host(Protocol):
    """What the driver needs of its screen."""

    def post_message(self, message: Message) -> bool: ...

    def run_worker(self, work, *, name: str, group: str, exit_on_error: bool) -> Worker: ...


class RunDriver:
    def __init__(
        self,
        host: Host,
        reviewer: TuiReviewer,
        *,
        config: RunConfig,
        session: Path | None,
        overrides: dict | None = None,
        injected: Injected = None,
        on_discard=lambda: None,
    ) -> None:
        self.host = host
        self.reviewer = reviewer
        self.config = config
        self.named = session is not None  # False: the path follows the settings until the session exists
        self.session_path = session if session is not None else session_path(config)
        self.overrides = overrides or {}
        self.injected = injected
        self.on_discard = on_discard  # the step broke off: forget its open reviews
        self.state = RunState.SAVED if is_session(self.session_path) else RunState.NEW
        self.run: Run | None = None
        self.pending = 0  # steps still to run in this go
        self.until: int | None = None  # /auto: run up to this step
        self.worker: Worker | None = None
        self._shutdown: asyncio.Future | None = None

    # ------------------------------------------------------------ queries
    @property
    def stepping(self) -> bool:
        return self.state is RunState.STEPPING

    @property
    def busy(self) -> bool:
        """A step runs or is about to."""
        return self.state in (RunState.OPENING, RunState.STEPPING) or self.pending > 0

    @property
    def next_step(self) -> int:
        return self.run.next_step if self.run else 0

    def steps_left(self) -> int:
        """Steps to the configured number, not counting one under way."""
        return max(self.config.steps - self.next_step - (1 if self.stepping else 0), 0)

    # ----------------------------------------------------------- changing
    def retarget(self, config: RunConfig) -> None:
        """New settings before anything is on disk (``/method`` before step 0)."""
        if self.state is not RunState.NEW:
            raise RuntimeError(f"the session {self.session_path.name} exists: its settings are fixed")
        self.config = config
        if not self.named:
            self.session_path = session_path(config)

    def go(self, steps: int) -> None:
        """Run ``steps`` more steps (0: only open the run)."""
        if self.state is RunState.SHUT:
            return
        self.pending += steps
        if self.worker is None or self.worker.is_finished:
            self.worker = self.host.run_worker(self._drive(), name="loop", group="loop", exit_on_error=False)

    def auto(self) -> None:
        """Run the remaining steps (``/auto``)."""
        self.until = self.config.steps
        self.go(self.steps_left())

    def pause(self) -> None:
        """Stop after the step under way."""
        self.pending = 0
        self.until = None

    # ------------------------------------------------------------ the run
    def _listen(self, event) -> None:
        message = from_event(event)
        if message is not None:
            self.host.post_message(message)

    async def _open(self) -> Run:
        if self.run is not None:
            return self.run
        self.state = RunState.OPENING
        config, path = self.config, self.session_path

        def build() -> tuple[Run, dict]:
            run = open_run(config, self.reviewer, session=path, overrides=self.overrides,
                           listeners=(self._listen,), injected=self.injected)
            # Counted before the run makes any call of its own: the models' counters start at 0.
            return run, session_spent(run.store.calls()) if run.resumed else {}

        future = asyncio.get_running_loop().run_in_executor(None, build)
        try:
            run, spent = await asyncio.shield(future)
        except asyncio.CancelledError:
            # Quit while the session was opening: close it once it is open.
            future.add_done_callback(lambda f: f.exception() is None and f.result()[0].store.close())
            raise
        self.run, self.state = run, RunState.IDLE
        self.config, self.session_path = run.config, run.path
        self.reviewer.known = run.known_decisions
        self.host.post_message(RunOpened(run.path, run.config, run.resumed, tuple(run.records), run.mid_step, spent))
        for warning in run.warnings:  # the task file's check (a field no template uses), said once
            self.host.post_message(NoteArrived(run.next_step, f"task file: {warning}"))
        if run.mid_step and self.pending == 0:
            self.pending = 1  # a half-done step continues at once
        return run

    async def _drive(self) -> None:
        ran = False
        try:
            run = await self._open()
            while self.pending > 0 and self.state is RunState.IDLE:
                if self.until is not None and run.next_step >= self.until:
                    break
                self.pending -= 1
                self.state, ran = RunState.STEPPING, True
                outcome = await run.drive(1)
                if outcome.stopped:  # the budget, or an evaluation errored beyond --max-errored: the step is not recorded
                    await self._discard()
                    self.host.post_message(RunFailed(outcome.stopped, stopped=True))
                    return
                self.state = RunState.IDLE
            if ran and self.state is RunState.IDLE:
                self.host.post_message(RunIdle("finished" if run.done else "paused", run.next_step))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown in the transcript; the session stays resumable
            await self._discard()
            self.host.post_message(RunFailed(f"{type(exc).__name__}: {exc}"))
        finally:
            self.pending, self.until = 0, None

    async def _discard(self) -> None:
        """Close a run whose step broke off; the next step reopens the session."""
        run, self.run = self.run, None
        if self.state is not RunState.SHUT:
            self.state = RunState.SAVED if is_session(self.session_path) else RunState.NEW
        self.on_discard()
        if run is not None:
            await run.close()

    async def shutdown(self) -> None:
        """Stop the loop and close the session (it stays resumable).  Every
        caller waits for the same one shutdown."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._close())
        await asyncio.shield(self._shutdown)

    async def _close(self) -> None:
        self.state = RunState.SHUT
        worker = self.worker
        if worker is not None and not worker.is_finished:
            worker.cancel()
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
        run, self.run = self.run, None
        if run is not None:
            await run.close()
